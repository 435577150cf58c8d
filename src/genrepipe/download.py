"""Fetching the GTZAN archive: download, verify the checksum, unpack safely."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from genrepipe.io import atomic_path, held_while_written, remove_killed_writes

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


#: The README section on GTZAN's unreachable original host and the copies in circulation.
COPIES_SECTION = "Running on real GTZAN"


class ChecksumError(ValueError):
    """A downloaded file whose MD5 is not the expected one."""


class DownloadError(OSError):
    """The archive could not be fetched (no network, a moved URL); says how to go on."""


class ArchiveError(ValueError):
    """The archive cannot be unpacked as GTZAN: not a tar file, an unsafe member, no
    ``genres`` folder."""


def md5sum(path: str | os.PathLike) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str, destination: str | os.PathLike, *, md5: str | None = None, timeout: float = 60
) -> Path:
    """Download ``url`` to ``destination`` (atomically), checking ``md5`` if given."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)  # where to put one fetched by hand
    try:
        opened = urllib.request.urlopen(url, timeout=timeout)
    except ValueError as error:  # no scheme, an empty URL
        raise DownloadError(f"dataset.download.url: cannot open {url!r} ({error})") from None
    with atomic_path(destination) as tmp:
        with open(tmp, "wb") as out, opened as response:
            total = int(response.headers.get("Content-Length") or 0)
            # Every 5% of a known size, else every 50 MB (logs/download_gtzan.log).
            step = total // 20 if total else 50_000_000
            done, reported = 0, 0
            while chunk := response.read(_CHUNK):
                try:
                    out.write(chunk)
                except OSError as error:  # a full disk names no file
                    raise DownloadError(f"cannot write {destination}: {error.strerror}") from None
                done += len(chunk)
                if done - reported >= step:
                    reported = done
                    of = f" of {total / 1e6:.0f}" if total else ""
                    logger.info("downloaded %.0f%s MB", done / 1e6, of)
            if total and done < total:
                # urllib ends the read early, without an error, when the server hangs up.
                raise ConnectionError(
                    f"the connection closed after {done / 1e6:.1f} of {total / 1e6:.1f} MB"
                )
        if md5 is not None:
            actual = md5sum(tmp)
            if actual != md5:
                raise ChecksumError(
                    f"{url}: MD5 is {actual}, expected {md5} (corrupt or different file)"
                )
    return destination


def unpack_genres(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Unpack the archive's ``genres`` folder to ``destination``, atomically.

    Members are extracted with tarfile's ``data`` filter: no absolute paths, no
    links out of the folder, no device files.

    Raises
    ------
    ArchiveError
        If the archive is not a tar file, holds a member the filter refuses, holds
        no ``genres`` folder, or this Python lacks the filter (before 3.11.4).
    """
    destination = Path(destination)
    if not hasattr(tarfile, "data_filter"):
        raise ArchiveError(
            f"this Python ({sys.version.split()[0]}) cannot unpack {archive} safely: tarfile's "
            f"data filter came in 3.11.4. Unpack it yourself (tar xzf {archive} -C "
            f"{destination.parent}) or use a newer Python"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_killed_writes(destination)  # a killed unpack's 1.2 GB
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    )
    try:
        with held_while_written(tmp):
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")
            except tarfile.FilterError as error:
                raise ArchiveError(
                    f"{archive}: refused to unpack an unsafe member: {error}"
                ) from None
            except tarfile.TarError as error:
                raise ArchiveError(f"{archive} is not a readable tar archive ({error})") from None
            except OSError as error:  # a full disk
                raise ArchiveError(f"cannot unpack {archive}: {error}") from None
            found = [p for p in tmp.rglob("genres") if p.is_dir()]
            if not found:
                raise ArchiveError(f"{archive} holds no 'genres' folder")
            if destination.exists():
                shutil.rmtree(destination)
            os.replace(found[0], destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return destination


def download_and_unpack(url: str, md5: str, destination: str | os.PathLike) -> Path:
    """Download the archive beside ``destination``, verify it, unpack ``genres`` there."""
    destination = Path(destination)
    name = Path(url.split("?")[0]).name
    # A URL ending in the folder's own name (or nothing) would save over it.
    archive = destination.parent / (name if name not in ("", destination.name) else "genres.tar.gz")
    present = md5sum(archive) if archive.is_file() else None
    if present == md5:
        logger.info("using the archive already at %s", archive)
    else:
        # An archive put there by hand that fails the check is not GTZAN as expected: say so.
        mismatch = f"the archive at {archive} has MD5 {present}, not {md5} (dataset.download.md5)"
        if present is not None:
            logger.warning("%s: downloading it again", mismatch)
        logger.info("downloading %s", url)
        try:
            download(url, archive, md5=md5)
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            TimeoutError,
            ConnectionError,
        ) as error:
            reason = getattr(error, "reason", None) or error
            raise DownloadError(
                f"cannot download {url} ({reason})"
                + (f"; {mismatch}" if present is not None else "")
                + f". Put a copy of the archive at {archive} (its MD5 is checked), or set "
                f"dataset.gtzan.root to an unpacked copy: README.md, section {COPIES_SECTION!r}, "
                "says where copies are"
            ) from None
    return unpack_genres(archive, destination)
