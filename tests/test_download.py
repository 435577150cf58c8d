"""Tests of genrepipe.download: fetch over loopback HTTP and file://, checksum, safe unpacking."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
import urllib.error
from pathlib import Path

import pytest

from genrepipe.download import (
    COPIES_SECTION,
    ArchiveError,
    ChecksumError,
    DownloadError,
    download,
    download_and_unpack,
    md5sum,
    unpack_genres,
)

MEMBERS = {
    "genres/blues/blues.00000.wav": b"RIFF blues zero " * 100,
    "genres/blues/blues.00001.wav": b"RIFF blues one " * 50,
    "genres/rock/rock.00000.wav": b"RIFF rock zero " * 70,
    "genres/README": b"GTZAN genre collection\n",
}


def _make_tar(
    path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL, request log)."""
    folder = tmp_path / "server"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def archive(served) -> tuple[str, str]:
    """URL and MD5 of a small GTZAN-like archive on the loopback server."""
    folder, base, _ = served
    path = _make_tar(folder / "genres.tar.gz", MEMBERS)
    return f"{base}/genres.tar.gz", _md5(path)


def test_md5sum_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 10_000)  # spans several read chunks
    assert md5sum(path) == hashlib.md5(path.read_bytes()).hexdigest()


def test_download_and_unpack_over_http(tmp_path, served, archive):
    _, _, requests = served
    url, md5 = archive
    destination = tmp_path / "data" / "gtzan"

    result = download_and_unpack(url, md5, destination)

    assert result == destination
    assert _files_under(destination) == {name.removeprefix("genres/") for name in MEMBERS}
    for name, data in MEMBERS.items():
        assert (destination / name.removeprefix("genres/")).read_bytes() == data
    # The verified archive stays beside the destination, and no temporary file or folder is left.
    archive_path = destination.parent / "genres.tar.gz"
    assert _md5(archive_path) == md5
    assert sorted(p.name for p in destination.parent.iterdir()) == ["genres.tar.gz", "gtzan"]
    assert requests == ["/genres.tar.gz"]

    # A second run reuses the verified archive: no new request, same result.
    (destination / "blues" / "blues.00000.wav").unlink()
    download_and_unpack(url, md5, destination)
    assert requests == ["/genres.tar.gz"]
    assert (destination / "blues" / "blues.00000.wav").read_bytes() == MEMBERS[
        "genres/blues/blues.00000.wav"
    ]


def test_corrupt_archive_already_present_is_downloaded_again(tmp_path, served, archive):
    _, _, requests = served
    url, md5 = archive
    destination = tmp_path / "data" / "genres"
    destination.parent.mkdir()
    (destination.parent / "genres.tar.gz").write_bytes(b"half a download")

    download_and_unpack(url + "?download=1", md5, destination)

    assert requests == ["/genres.tar.gz?download=1"]
    assert _md5(destination.parent / "genres.tar.gz") == md5
    assert "blues/blues.00001.wav" in _files_under(destination)


def test_wrong_md5_raises_and_leaves_no_archive(tmp_path, archive):
    url, md5 = archive
    destination = tmp_path / "data" / "genres"
    wrong = "0" * 32

    with pytest.raises(ChecksumError) as info:
        download_and_unpack(url, wrong, destination)

    assert wrong in str(info.value) and md5 in str(info.value)
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []  # neither the archive nor a temp file


def test_checksum_error_is_a_value_error():
    assert issubclass(ChecksumError, ValueError)


def test_http_error_leaves_nothing(tmp_path, served):
    _, base, _ = served
    target = tmp_path / "data" / "missing.tar.gz"
    with pytest.raises(urllib.error.HTTPError):
        download(f"{base}/missing.tar.gz", target)
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("where", ["unreachable", "missing"])
def test_unreachable_archive_says_where_to_put_it(tmp_path, served, where):
    """Offline (a refused connection) or a moved URL: one message naming the archive's place,
    where an archive fetched by hand is then used."""
    _, base, _ = served
    url = {
        "unreachable": "http://127.0.0.1:9/genres.tar.gz",  # the discard port: refused
        "missing": f"{base}/genres.tar.gz",
    }[where]
    elsewhere = _make_tar(tmp_path / "fetched_elsewhere.tar.gz", MEMBERS)
    destination = tmp_path / "resources" / "gtzan" / "genres"
    with pytest.raises(DownloadError) as info:
        download_and_unpack(url, _md5(elsewhere), destination)
    message = str(info.value)
    assert message.startswith(f"cannot download {url} (")
    assert (
        f"Put a copy of the archive at {destination.parent / 'genres.tar.gz'} (its MD5" in message
    )
    assert "dataset.gtzan.root" in message
    assert message.endswith("README.md, section 'Running on real GTZAN', says where copies are")
    assert not destination.exists() and list(destination.parent.iterdir()) == []

    elsewhere.rename(destination.parent / "genres.tar.gz")
    download_and_unpack(url, _md5(destination.parent / "genres.tar.gz"), destination)
    assert _files_under(destination) == {name.removeprefix("genres/") for name in MEMBERS}


def test_the_readme_section_a_failed_download_names_says_where_copies_are():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"\n## {COPIES_SECTION}\n" in readme, f"README.md has no section {COPIES_SECTION!r}"
    section = readme.split(f"\n## {COPIES_SECTION}\n", 1)[1].split("\n## ", 1)[0]
    assert "marsyas/gtzan" in section and "dataset.download.md5" in section


def test_unreachable_url_names_a_wrong_archive_put_there_by_hand(tmp_path):
    destination = tmp_path / "resources" / "gtzan" / "genres"
    wrong = _make_tar(destination.parent / "genres.tar.gz", MEMBERS)
    expected = "0" * 32
    with pytest.raises(DownloadError) as info:
        download_and_unpack("http://127.0.0.1:9/genres.tar.gz", expected, destination)
    message = str(info.value)
    assert f"the archive at {wrong} has MD5 {_md5(wrong)}, not {expected}" in message
    assert wrong.is_file() and not destination.exists()  # the user's file is left alone


def test_download_without_md5(tmp_path, served, archive):
    folder, _, _ = served
    url, md5 = archive
    target = download(url, tmp_path / "copy" / "a.tar.gz")
    assert _md5(target) == md5 == _md5(folder / "genres.tar.gz")


def test_file_url(tmp_path):
    source = _make_tar(tmp_path / "mirror" / "gtzan.tar.gz", MEMBERS)
    destination = tmp_path / "data" / "genres"

    download_and_unpack(source.as_uri(), _md5(source), destination)

    assert _files_under(destination) == {name.removeprefix("genres/") for name in MEMBERS}
    assert (destination.parent / "gtzan.tar.gz").read_bytes() == source.read_bytes()


def test_genres_folder_found_below_a_top_folder(tmp_path):
    nested = {f"gtzan_v1/{name}": data for name, data in MEMBERS.items()}
    source = _make_tar(tmp_path / "nested.tar.gz", nested)
    destination = unpack_genres(source, tmp_path / "out" / "genres")
    assert _files_under(destination) == {name.removeprefix("genres/") for name in MEMBERS}


def test_unpack_replaces_an_existing_destination(tmp_path):
    destination = tmp_path / "out" / "genres"
    unpack_genres(_make_tar(tmp_path / "one.tar.gz", MEMBERS), destination)
    second = {"genres/jazz/jazz.00000.wav": b"RIFF jazz"}
    unpack_genres(_make_tar(tmp_path / "two.tar.gz", second), destination)
    assert _files_under(destination) == {"jazz/jazz.00000.wav"}
    assert [p.name for p in destination.parent.iterdir()] == ["genres"]


def test_unpack_removes_what_a_killed_unpack_left(tmp_path):
    destination = tmp_path / "out" / "genres"
    killed = destination.parent / ".genres.x7_k2q9a.tmp"
    (killed / "genres" / "blues").mkdir(parents=True)
    (killed / "genres" / "blues" / "blues.00000.wav").write_bytes(b"RIFF half")
    unpack_genres(_make_tar(tmp_path / "one.tar.gz", MEMBERS), destination)
    assert [p.name for p in destination.parent.iterdir()] == ["genres"]


def test_an_unpack_still_writing_is_left_to_its_writer(tmp_path, monkeypatch):
    """A second unpack of the same folder (a job outliving its run) removes what killed
    unpacks left, never the folder a live one is still filling: that one would then find
    no 'genres' folder in it, or lose files."""
    from genrepipe.io import remove_killed_writes

    destination = tmp_path / "out" / "genres"
    extractall = tarfile.TarFile.extractall

    def another_unpack_starting_meanwhile(self, *args, **kwargs):
        extractall(self, *args, **kwargs)
        remove_killed_writes(destination)  # what another unpack_genres does first

    monkeypatch.setattr(tarfile.TarFile, "extractall", another_unpack_starting_meanwhile)
    unpack_genres(_make_tar(tmp_path / "one.tar.gz", MEMBERS), destination)
    assert _files_under(destination) == {name.removeprefix("genres/") for name in MEMBERS}


def test_archive_without_genres_folder(tmp_path):
    source = _make_tar(tmp_path / "other.tar.gz", {"music/blues/blues.00000.wav": b"RIFF"})
    destination = tmp_path / "out" / "genres"
    with pytest.raises(ArchiveError, match="no 'genres' folder"):
        unpack_genres(source, destination)
    assert list(destination.parent.iterdir()) == []


def test_member_escaping_the_folder_is_refused(tmp_path):
    evil = dict(MEMBERS)
    evil["../evil.txt"] = b"written outside the extraction folder"
    source = _make_tar(tmp_path / "archives" / "evil.tar.gz", evil)
    destination = tmp_path / "out" / "deep" / "genres"

    with pytest.raises(ArchiveError, match="refused to unpack an unsafe member"):
        unpack_genres(source, destination)

    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []  # the temporary folder is gone


def test_escaping_member_refused_through_download_and_unpack(tmp_path):
    evil = {"genres/blues/blues.00000.wav": b"RIFF", "genres/../../evil.txt": b"outside"}
    source = _make_tar(tmp_path / "mirror" / "evil.tar.gz", evil)
    destination = tmp_path / "data" / "genres"

    with pytest.raises(ArchiveError, match="unsafe member"):
        download_and_unpack(source.as_uri(), _md5(source), destination)

    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))
    assert not destination.exists()
    assert [p.name for p in destination.parent.iterdir()] == ["evil.tar.gz"]


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    source = _make_tar(
        tmp_path / "link.tar.gz",
        {"genres/blues/blues.00000.wav": b"RIFF"},
        symlinks={"genres/blues/blues.00001.wav": "../../../../../../etc/passwd"},
    )
    destination = tmp_path / "out" / "genres"
    with pytest.raises(ArchiveError, match="unsafe member"):
        unpack_genres(source, destination)
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []


def test_a_transfer_cut_short_is_a_download_error_not_a_checksum_one(tmp_path):
    """urllib ends the read early, without an error, when a server hangs up: the half
    file failed the MD5 check, which blamed dataset.download.md5 (and without an MD5
    was kept)."""
    body = b"x" * 4000

    class HangsUp(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            self.send_response(200)
            self.send_header("Content-Length", str(2 * len(body)))
            self.end_headers()
            self.wfile.write(body)  # then the connection closes

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HangsUp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/genres.tar.gz"
    try:
        with pytest.raises(ConnectionError, match=r"closed after 0\.0 of 0\.0 MB"):
            download(url, tmp_path / "half.tar.gz")
        assert list(tmp_path.iterdir()) == []
        destination = tmp_path / "data" / "genres"
        with pytest.raises(DownloadError, match=f"cannot download {url} \\(the connection"):
            download_and_unpack(url, hashlib.md5(body).hexdigest(), destination)
        assert list(destination.parent.iterdir()) == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_file_that_is_no_tar_archive_is_named(tmp_path):
    junk = tmp_path / "mirror" / "genres.tar.gz"
    junk.parent.mkdir()
    junk.write_bytes(b"<html>moved</html>")
    destination = tmp_path / "data" / "genres"
    with pytest.raises(ArchiveError, match="genres.tar.gz is not a readable tar archive"):
        download_and_unpack(junk.as_uri(), _md5(junk), destination)
    assert not destination.exists()


def test_an_empty_or_schemeless_url_names_the_setting(tmp_path):
    for url in ("", "opihi.cs.uvic.ca/sound/genres.tar.gz"):
        with pytest.raises(DownloadError, match="dataset.download.url: cannot open"):
            download_and_unpack(url, "0" * 32, tmp_path / "genres")
    assert list(tmp_path.iterdir()) == []


def test_a_url_ending_in_the_folders_name_does_not_save_over_it(tmp_path):
    source = _make_tar(tmp_path / "mirror" / "genres", MEMBERS)  # no extension
    destination = tmp_path / "data" / "genres"
    download_and_unpack(source.as_uri(), _md5(source), destination)
    assert _files_under(destination) == {m.removeprefix("genres/") for m in MEMBERS}
    assert (tmp_path / "data" / "genres.tar.gz").is_file()


def test_a_python_without_tarfiles_data_filter_refuses_to_unpack(tmp_path, monkeypatch):
    """filter="data" came in Python 3.11.4: on 3.11.0 to 3.11.3 extractall raised a
    TypeError; the project allows any 3.11."""
    source = _make_tar(tmp_path / "genres.tar.gz", MEMBERS)
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(ArchiveError, match=r"cannot unpack .*genres.tar.gz safely.*tar xzf"):
        unpack_genres(source, tmp_path / "out" / "genres")
    assert not (tmp_path / "out" / "genres").exists()


def test_a_file_named_genres_is_not_the_genres_folder(tmp_path):
    # Only a folder named genres is GTZAN's: a file of that name (a list of the genres,
    # say) must not be moved into place as the dataset.
    source = _make_tar(tmp_path / "odd.tar.gz", {"gtzan/genres": b"blues\njazz\n"})
    destination = tmp_path / "out" / "genres"
    with pytest.raises(ArchiveError, match="no 'genres' folder"):
        unpack_genres(source, destination)
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []
