"""Fetching the GTZAN archive: download, verify the checksum, unpack safely."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from genrepipe.io import atomic_path

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A downloaded file whose MD5 is not the expected one."""


class DownloadError(OSError):
    """The archive could not be fetched (no network, a moved URL); says how to go on."""


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
    with atomic_path(destination) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done, reported = 0, 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if total and done - reported >= total // 20:
                    reported = done
                    logger.info("downloaded %.0f of %.0f MB", done / 1e6, total / 1e6)
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
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    )
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        found = [p for p in tmp.rglob("genres") if p.is_dir()]
        if not found:
            raise FileNotFoundError(f"{archive} holds no 'genres' folder")
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(found[0], destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return destination


def download_and_unpack(url: str, md5: str, destination: str | os.PathLike) -> Path:
    """Download the archive beside ``destination``, verify it, unpack ``genres`` there."""
    destination = Path(destination)
    archive = destination.parent / Path(url.split("?")[0]).name
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
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", None) or error
            raise DownloadError(
                f"cannot download {url} ({reason})"
                + (f"; {mismatch}" if present is not None else "")
                + f". Without access to it from here, fetch the archive elsewhere and put it at "
                f"{archive} (its MD5 is checked), or set dataset.gtzan.root to an unpacked copy"
            ) from None
    return unpack_genres(archive, destination)
