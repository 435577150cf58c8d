"""Tests of genrepipe.dataset: scanning GTZAN folders, track numbers and stable batches."""

from __future__ import annotations

import math
import os
import random
import string
import zlib
from pathlib import Path

import pytest

from genrepipe import GENRES
from genrepipe.dataset import (
    AUDIO_EXTENSIONS,
    Track,
    assign_batches,
    discover_tracks,
    find_genre_root,
    track_number,
)

# --------------------------------------------------------------------------- discover_tracks


def _touch(path: Path, content: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def dataset(tmp_path) -> Path:
    """An unpacked archive, ``tmp/gtzan/genres/<genre>/...``, with every oddity a scan meets."""
    genres = tmp_path / "gtzan" / "genres"
    _touch(genres / "blues" / "blues.00000.au")
    _touch(genres / "blues" / "blues.00000.wav")  # duplicate id of the .au above
    _touch(genres / "blues" / "blues.00001.wav")
    _touch(genres / "blues" / "blues.00002.WAV")  # upper-case extension is still audio
    _touch(genres / "blues" / ".DS_Store")  # hidden: ignored silently
    _touch(genres / "blues" / "README.txt")  # not audio: skipped with a reason
    _touch(genres / "blues" / "blues.00004")  # its extension lost: ".00004" is no extension
    _touch(genres / "classical" / "classical.00000.au")
    _touch(genres / "classical" / "classical.00001.flac")
    _touch(genres / "classical" / "blues.00001.wav")  # same id as in blues: a duplicate
    (genres / "jazz").mkdir()  # empty genre folder
    _touch(genres / "jazz" / ".DS_Store")  # ... holding only a hidden file: still empty
    _touch(genres / "polka" / "polka.00000.wav")  # unknown genre
    _touch(genres / "rock" / "rock.00003.mp3")
    _touch(genres / "rock" / "live" / "rock.00004.wav")  # a sub-folder: skipped with a reason
    _touch(genres / "rock" / ".ipynb_checkpoints" / "x.wav")  # hidden folder: ignored silently
    _touch(genres / ".DS_Store")  # hidden file beside the genre folders
    _touch(genres / "notes.md")  # a stray file beside the genre folders
    # A link to a clip that was moved: skipped with a reason, never dropped unseen.
    (genres / "blues" / "blues.00003.wav").symlink_to(tmp_path / "moved" / "blues.00003.wav")
    # country, disco, hiphop, metal, pop and reggae have no folder at all: one line says so.
    return genres


def test_different_recordings_named_alike_in_two_genre_folders_are_an_error(tmp_path):
    # Numbered folder by folder (blues/01.wav, jazz/01.wav): every jazz clip was skipped
    # as a "duplicate" of a blues one, and the run stopped on "clips of one genre only".
    genres = tmp_path / "genres"
    for genre, content in [("blues", b"RIFF blues"), ("jazz", b"RIFF jazz")]:
        for number in ("01", "02"):
            _touch(genres / genre / f"{number}.wav", content + number.encode())
    with pytest.raises(ValueError) as error:
        discover_tracks(genres)
    assert str(error.value) == (
        f"{genres / 'blues' / '01.wav'} and {genres / 'jazz' / '01.wav'} are different "
        "recordings with one track id, 01 (and 1 more such pair): a clip's id is its file "
        "name less the extension, and must be unique in the whole collection; rename them "
        "as GTZAN names its clips (<genre>.000NN): blues.01.wav and jazz.01.wav, say"
    )
    # The same recording twice is a copy, left out as before; two formats of one clip in
    # one folder are one track.
    _touch(genres / "jazz" / "01.wav", b"RIFF blues01")
    _touch(genres / "jazz" / "02.wav", b"RIFF blues02")
    _touch(genres / "jazz" / "03.au", b"RIFF jazz 03")
    _touch(genres / "jazz" / "03.wav", b"RIFF jazz 03, converted")
    found = discover_tracks(genres)
    assert [(t.genre, t.track) for t in found.tracks] == [
        ("blues", "01"),
        ("blues", "02"),
        ("jazz", "03"),
    ]
    assert dict(found.skipped)[str(genres / "jazz" / "01.wav")] == (
        f"duplicate track id 01 (also {genres / 'blues' / '01.wav'})"
    )


def test_discover_finds_audio_tracks_sorted_by_genre_then_id(dataset):
    found = discover_tracks(dataset)

    assert [(t.genre, t.track) for t in found.tracks] == [
        ("blues", "blues.00000"),
        ("blues", "blues.00001"),
        ("blues", "blues.00002"),
        ("classical", "classical.00000"),
        ("classical", "classical.00001"),
        ("rock", "rock.00003"),
    ]
    for track in found.tracks:
        assert Path(track.path).is_file()
        assert Path(track.path).parent.name == track.genre
        assert Path(track.path).stem == track.track
    # The first file of a duplicated id wins (sorted order: .au before .wav).
    assert Path(found.tracks[0].path).name == "blues.00000.au"


def test_a_clip_copied_into_another_genre_folder_leaves_the_original_its_genre(tmp_path):
    """pop/ sorts before rock/: its stray copy of rock.00000 was kept, labelled pop, and
    the clip in its own folder was skipped as the duplicate."""
    genres = tmp_path / "genres"
    _touch(genres / "pop" / "pop.00000.wav")
    _touch(genres / "pop" / "rock.00000.wav")  # the stray copy
    _touch(genres / "rock" / "rock.00000.wav")
    # Neither copy in the folder of its name: the first found, as before.
    _touch(genres / "jazz" / "other.00000.wav")
    _touch(genres / "pop" / "other.00000.wav")
    found = discover_tracks(genres)
    kept = {t.track: Path(t.path).relative_to(genres).as_posix() for t in found.tracks}
    assert kept == {
        "other.00000": "jazz/other.00000.wav",
        "pop.00000": "pop/pop.00000.wav",
        "rock.00000": "rock/rock.00000.wav",
    }
    assert [t.genre for t in found.tracks] == ["jazz", "pop", "rock"]  # scan order kept
    skipped = dict(found.skipped)
    assert skipped[str(genres / "pop" / "rock.00000.wav")] == (
        f"duplicate track id rock.00000 (also {genres / 'rock' / 'rock.00000.wav'})"
    )
    assert str(genres / "rock" / "rock.00000.wav") not in skipped
    # A folder whose only clip is a duplicate kept elsewhere holds no clip of its own.
    _touch(genres / "metal" / "rock.00000.wav")
    skipped = dict(discover_tracks(genres).skipped)
    assert skipped[str(genres / "metal")] == (
        "genre folder holds only duplicates of clips kept in other folders"
    )


def test_file_manager_copies_of_a_clip_are_skipped_naming_the_original(tmp_path):
    """A copy made beside its clip is the same recording under another id: it could sit in
    testing while its original trains, scoring a clip the model heard."""
    genres = tmp_path / "genres"
    for name in ("blues.00001", "blues.00002", "jazz.00000"):
        _touch(genres / name.split(".")[0] / f"{name}.wav")
    copies = {
        "blues/blues.00001 copy.wav": "blues.00001",  # macOS Finder
        "blues/blues.00001 copy 2.wav": "blues.00001",
        "blues/blues.00001 2.wav": "blues.00001",  # Finder's "Keep Both"
        "blues/blues.00002.au.wav": "blues.00002",  # converted, saved under the whole name
        "blues/blues.00002 - Copy.wav": "blues.00002",  # Windows Explorer
        "blues/blues.00002 - Copy (2).wav": "blues.00002",
        "jazz/jazz.00000 (1).wav": "jazz.00000",  # a second download
        "jazz/jazz.00000 (copy).wav": "jazz.00000",  # GNOME Files
        "jazz/jazz.00000 (another copy).wav": "jazz.00000",
        "jazz/jazz.00000 (3rd copy).WAV": "jazz.00000",
    }
    for name in copies:
        _touch(genres / name)
    _touch(genres / "jazz" / "jazz.00007 (1).wav")  # its original is not there: a clip
    _touch(genres / "jazz" / "my copy.wav")  # "copy" in the name alone says nothing
    _touch(genres / "jazz" / "Take 5.wav")  # nor a number, without "Take" beside it
    _touch(genres / "jazz" / "jazz.00003.au.wav")  # nor an extension, without jazz.00003
    found = discover_tracks(genres)
    assert [t.track for t in found.tracks] == [
        "blues.00001",
        "blues.00002",
        "Take 5",
        "jazz.00000",
        "jazz.00003.au",
        "jazz.00007 (1)",
        "my copy",
    ]
    skipped = {Path(path).relative_to(genres).as_posix(): why for path, why in found.skipped}
    for name, original in copies.items():
        assert skipped[name].startswith(f"named as a copy of {original}, whose clip is kept")


def test_capitalized_genre_folders_give_the_lower_case_genre(tmp_path):
    """Some copies capitalize the folders (Blues/): they were all unknown genre folders."""
    genres = tmp_path / "Genres"
    _touch(genres / "Blues" / "blues.00000.wav")
    _touch(genres / "HipHop" / "hiphop.00000.wav")
    _touch(genres / "Polka" / "polka.00000.wav")
    _touch(genres / "Jazz" / ".DS_Store")
    assert find_genre_root(genres) == genres
    found = discover_tracks(genres)
    assert [(t.track, t.genre) for t in found.tracks] == [
        ("blues.00000", "blues"),
        ("hiphop.00000", "hiphop"),
    ]
    assert found.tracks[0].path == str(genres / "Blues" / "blues.00000.wav")
    skipped = dict(found.skipped)
    assert skipped[str(genres / "Polka")].startswith("unknown genre folder")
    assert skipped[str(genres / "Jazz")] == "genre folder holds no audio clips"
    assert found.folder_label_warning() is None  # blues.00000 in Blues/ is in its folder
    with pytest.raises(FileNotFoundError, match="the folder of one genre"):
        find_genre_root(genres / "Blues")


def test_discover_accepts_genres_folder_or_its_parent(dataset):
    direct = discover_tracks(dataset)
    from_parent = discover_tracks(dataset.parent)
    assert direct.tracks == from_parent.tracks
    assert direct.skipped == from_parent.skipped
    assert all("genres" in Path(t.path).parts for t in from_parent.tracks)


def test_discover_reports_what_it_skips_and_why(dataset):
    found = discover_tracks(dataset)
    skipped = {Path(path).relative_to(dataset).as_posix(): reason for path, reason in found.skipped}

    assert "not an audio file extension (.txt)" == skipped["blues/README.txt"]
    assert skipped["blues/blues.00004"] == (
        "no file extension (audio is .wav, .au, .flac, .ogg, .mp3, .aiff, .aif or .caf)"
    )
    assert skipped["polka"].startswith("unknown genre folder")
    assert "blues" in skipped["polka"]  # names the known genres
    assert skipped["jazz"] == "genre folder holds no audio clips"
    assert skipped["notes.md"] == "not a genre folder"
    assert skipped["rock/live"] == (
        f"a folder inside a genre folder: clips must sit in {dataset / 'rock'}/"
    )
    assert "duplicate track id blues.00000" in skipped["blues/blues.00000.wav"]
    assert "blues.00000.au" in skipped["blues/blues.00000.wav"]  # names the file kept
    assert "duplicate track id blues.00001" in skipped["classical/blues.00001.wav"]
    assert skipped["blues/blues.00003.wav"] == (
        f"broken link (to {dataset.parent.parent / 'moved' / 'blues.00003.wav'})"
    )
    assert (
        skipped["."]
        == "no folder of country, disco, hiphop, metal, pop, reggae: none of their clips"
    )
    # Hidden files are never reported, and nothing else is.
    assert not any(".DS_Store" in path for path in skipped)
    assert set(skipped) == {
        "blues/README.txt",
        "blues/blues.00004",
        "blues/blues.00000.wav",
        "blues/blues.00003.wav",
        "classical/blues.00001.wav",
        "jazz",
        "polka",
        "notes.md",
        "rock/live",
        ".",
    }


def test_clips_named_for_another_genre_are_labelled_by_their_folder_and_named(tmp_path):
    genres = tmp_path / "genres"
    _touch(genres / "pop" / "pop.00000.wav")
    _touch(genres / "pop" / "rock.00005.wav")  # copied, or moved to relabel it
    _touch(genres / "jazz" / "my_take.00001.wav")  # no genre in its name: nothing to say
    found = discover_tracks(genres)
    assert [(t.track, t.genre) for t in found.tracks] == [
        ("my_take.00001", "jazz"),
        ("pop.00000", "pop"),
        ("rock.00005", "pop"),
    ]
    assert found.folder_label_warning() == (
        "1 clip(s) named for another genre than their folder's are labelled by the folder: "
        "pop/rock.00005.wav"
    )
    for number in range(6, 12):
        _touch(genres / "metal" / f"blues.{number:05d}.wav")
    assert (
        discover_tracks(genres)
        .folder_label_warning()
        .endswith(
            "folder: metal/blues.00006.wav, metal/blues.00007.wav, metal/blues.00008.wav, "
            "metal/blues.00009.wav, metal/blues.00010.wav and 2 more"
        )
    )


def test_a_dataset_named_as_gtzan_gets_no_folder_label_warning(dataset):
    # The fixture's blues.00001.wav in classical/ is a duplicate id, skipped, not labelled.
    assert discover_tracks(dataset).folder_label_warning() is None


def test_discover_refuses_braces_in_the_dataset_path(tmp_path):
    # Snakemake would read them as a wildcard in every clip's path.
    genres = tmp_path / "GTZAN {v2}" / "genres"
    _touch(genres / "blues" / "blues.00000.wav")
    with pytest.raises(ValueError, match=r"GTZAN \{v2\}.*rename the folder"):
        discover_tracks(genres.parent)


def test_file_names_that_are_not_utf8_are_skipped_and_shown_escaped(tmp_path):
    """A Latin-1 name on a UTF-8 system ("café" as bytes 63 61 66 e9): kept as a track, its
    path stopped Snakemake, which records every path as UTF-8, with a traceback naming
    no file. Skipped with a reason instead; every skipped path is UTF-8 text."""
    genres = tmp_path / "genres"
    _touch(genres / "rock" / "rock.00000.wav")
    latin1 = os.fsdecode(b"caf\xe9")
    try:
        _touch(genres / "rock" / f"{latin1}.wav")
    except OSError:  # macOS's APFS, say, holds UTF-8 names only
        pytest.skip("this file system refuses a file name that is not UTF-8")
    (genres / "rock" / "rock.00001.wav").symlink_to(tmp_path / f"{latin1}.wav")  # broken
    _touch(genres / "rock" / f"{latin1}.txt")
    _touch(genres / f"{latin1} songs" / "x.wav")
    found = discover_tracks(genres)
    assert [track.track for track in found.tracks] == ["rock.00000"]
    reasons = {Path(path).name: reason for path, reason in found.skipped}
    assert reasons["caf\\xe9.wav"].startswith("file name is not UTF-8 text")
    assert reasons["caf\\xe9.txt"].startswith("not an audio file extension")
    assert reasons["caf\\xe9 songs"].startswith("unknown genre folder")
    assert reasons["rock.00001.wav"] == f"broken link (to {tmp_path}/caf\\xe9.wav)"
    for path, reason in found.skipped:  # what Snakemake records of the params, as UTF-8
        path.encode("utf-8"), reason.encode("utf-8")
    # A dataset folder of such a name holds nothing Snakemake could use.
    _touch(tmp_path / latin1 / "genres" / "rock" / "rock.00000.wav")
    with pytest.raises(ValueError, match=r"caf\\xe9.*not UTF-8 text.*rename the folder"):
        discover_tracks(tmp_path / latin1)


def test_discover_restricted_genres_reports_the_others(dataset):
    found = discover_tracks(dataset, genres=("blues",))
    assert {t.genre for t in found.tracks} == {"blues"}
    skipped = {Path(path).name: reason for path, reason in found.skipped}
    for other in ("classical", "jazz", "polka", "rock"):
        assert skipped[other].startswith("unknown genre folder (known: blues)")


def test_discover_restricted_extensions(dataset):
    found = discover_tracks(dataset, extensions=(".au",))
    assert {Path(t.path).suffix for t in found.tracks} == {".au"}
    assert [t.track for t in found.tracks] == ["blues.00000", "classical.00000"]
    # blues.00000.wav is now "not audio", not a duplicate
    reasons = {Path(path).name: reason for path, reason in found.skipped}
    assert reasons["blues.00000.wav"] == "not an audio file extension (.wav)"
    assert reasons["rock"] == "genre folder holds no audio clips"


def test_default_extensions_cover_gtzan_formats():
    assert {".au", ".wav"} <= set(AUDIO_EXTENSIONS)
    # What genrepipe-predict reads, a collection may hold: AIFF clips (a Mac's) were
    # skipped as "not an audio file extension (.aiff)" that predict classified.
    from genrepipe.predict import AUDIO_SUFFIXES

    assert set(AUDIO_EXTENSIONS) == set(AUDIO_SUFFIXES)
    assert all(ext == ext.lower() and ext.startswith(".") for ext in AUDIO_EXTENSIONS)


def test_find_genre_root_accepts_both_levels(dataset):
    assert find_genre_root(dataset) == dataset
    assert find_genre_root(dataset.parent) == dataset
    assert find_genre_root(str(dataset.parent)) == dataset


def test_find_genre_root_reads_the_common_wav_copys_layout(tmp_path):
    """The widely shared copy unpacks to Data/genres_original/<genre>/ beside images_original."""
    data = tmp_path / "Data"
    _touch(data / "genres_original" / "jazz" / "jazz.00000.wav")
    _touch(data / "images_original" / "jazz" / "jazz00000.png")
    _touch(data / "features_30_sec.csv")
    assert find_genre_root(data) == data / "genres_original"
    assert [t.track for t in discover_tracks(data).tracks] == ["jazz.00000"]


def test_find_genre_root_names_sub_folders_holding_genre_folders(tmp_path):
    root = tmp_path / "download"
    _touch(root / "gtzan" / "blues" / "blues.00000.au")
    _touch(root / "readme.txt")
    with pytest.raises(FileNotFoundError) as info:
        find_genre_root(root)
    assert str(info.value).endswith(f"genre folders are in {root / 'gtzan'}: point there")


def test_find_genre_root_names_the_folder_of_kaggles_download(tmp_path):
    # Kaggle's GTZAN unpacks to Data/genres_original/<genre>/: its top folder got no hint.
    root = tmp_path / "archive"
    _touch(root / "Data" / "genres_original" / "blues" / "blues.00000.wav")
    _touch(root / "Data" / "features_30_sec.csv")
    with pytest.raises(FileNotFoundError) as info:
        find_genre_root(root)
    assert str(info.value).endswith(f"genre folders are in {root / 'Data'}: point there")
    assert find_genre_root(root / "Data") == root / "Data" / "genres_original"


def test_folders_that_cannot_be_listed_are_named_not_a_traceback(tmp_path, monkeypatch):
    """A dataset folder, or one inside it, that may not be listed (another user's) ended
    the parse in a PermissionError traceback."""
    root = tmp_path / "data"
    _touch(root / "private" / "blues" / "blues.00000.wav")
    _touch(root / "readme.txt")
    listed = Path.iterdir

    def iterdir(folder):
        if folder.name in ("private", "data"):
            raise PermissionError(13, "Permission denied", str(folder))
        return listed(folder)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(FileNotFoundError, match="holds no genre folder"):
        find_genre_root(root)


def test_find_genre_root_missing_folder_is_named(tmp_path):
    missing = tmp_path / "no_such_dataset"
    with pytest.raises(FileNotFoundError, match="no_such_dataset"):
        find_genre_root(missing)
    with pytest.raises(FileNotFoundError, match="no_such_dataset"):
        discover_tracks(missing)


def test_find_genre_root_without_genre_folders_is_named(tmp_path):
    root = tmp_path / "wrong_layout"
    _touch(root / "music" / "song.wav")
    _touch(root / "genres" / "polka" / "polka.00000.wav")  # a genres folder of unknown genres
    with pytest.raises(FileNotFoundError) as info:
        find_genre_root(root)
    assert "wrong_layout" in str(info.value)
    assert "holds no genre folder" in str(info.value)
    assert "point there" not in str(info.value)  # no sub-folder holds a known genre
    # Its folders are named, and the names genre folders take: a collection of other
    # genres ('hip-hop', 'r&b') heard only "expected e.g. .../blues/".
    assert str(info.value).endswith(
        "; its folders (genres, music) are no genre's: genre folders are named for GTZAN's "
        "ten genres (blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, "
        "rock), in any case"
    ), info.value


def test_find_genre_root_rejects_a_file(tmp_path):
    file = _touch(tmp_path / "archive.tar.gz")
    with pytest.raises(FileNotFoundError, match="archive.tar.gz is a file, not a folder"):
        find_genre_root(file)


def test_find_genre_root_given_one_genre_names_the_folder_above(tmp_path):
    for genre in ("blues", "jazz"):
        _touch(tmp_path / "genres" / genre / f"{genre}.00000.wav")
    with pytest.raises(FileNotFoundError) as info:
        find_genre_root(tmp_path / "genres" / "blues")
    assert str(info.value) == (
        f"dataset folder {tmp_path / 'genres' / 'blues'} is the folder of one genre; point at "
        f"the folder holding all ten, {tmp_path / 'genres'}"
    )


# --------------------------------------------------------------------------- track_number


@pytest.mark.parametrize(
    ("track_id", "number"),
    [("blues.00000", 0), ("blues.00042", 42), ("rock.00099", 99), ("clip7", 7), ("a1.b23", 23)],
)
def test_track_number_reads_the_trailing_number(track_id, number):
    assert track_number(track_id) == number


def test_track_number_without_trailing_digits_is_a_stable_crc():
    for track_id in ("my_song", "blues.00042-live", "x"):
        number = track_number(track_id)
        assert 0 <= number < 100  # GTZAN's numbers, so such clips batch as GTZAN's do
        assert number == track_number(track_id)
        assert number == zlib.crc32(track_id.encode()) % 100
    assert track_number("my_song") != track_number("my_other_song")


def test_a_recordings_time_is_no_clip_number():
    # Named by the time of recording, 40 clips made 40 extraction jobs of one clip each.
    ids = [f"REC_20240312_{101300 + 7 * i}" for i in range(40)]
    for track_id in ids:
        assert track_number(track_id) == zlib.crc32(track_id.encode()) % 100
    assert track_number("clip_099999") == 99999 and track_number("take_000001") == 1
    tracks = [Track(track=t, genre=GENRES[i % 2], path=f"{t}.wav") for i, t in enumerate(ids)]
    assert len(assign_batches(tracks, tracks_per_job=50)) <= 100 // 5


# --------------------------------------------------------------------------- assign_batches


def _collection(n_per_genre: int = 100, genres=GENRES, start: int = 0) -> list[Track]:
    return [
        Track(track=f"{g}.{i:05d}", genre=g, path=f"genres/{g}/{g}.{i:05d}.wav")
        for g in genres
        for i in range(start, start + n_per_genre)
    ]


def _membership(batches: dict[str, list[Track]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(t.track for t in batch) for name, batch in batches.items()}


def test_every_track_in_exactly_one_batch():
    tracks = _collection()
    batches = assign_batches(tracks, tracks_per_job=100)
    ids = [t.track for batch in batches.values() for t in batch]
    assert len(ids) == len(tracks)
    assert sorted(ids) == sorted(t.track for t in tracks)


@pytest.mark.parametrize("tracks_per_job", [10, 50, 100, 200, 1000])
def test_batch_sizes_on_balanced_collection(tracks_per_job):
    tracks = _collection()
    batches = assign_batches(tracks, tracks_per_job=tracks_per_job)
    assert len(batches) == math.ceil(len(tracks) / tracks_per_job)
    # 100 clips per genre divide evenly for these sizes: every batch is exactly tracks_per_job.
    assert {len(batch) for batch in batches.values()} == {tracks_per_job}
    # A batch holds the same clip numbers of every genre.
    for batch in batches.values():
        per_genre = {
            g: sorted(track_number(t.track) for t in batch if t.genre == g) for g in GENRES
        }
        assert len({tuple(numbers) for numbers in per_genre.values()}) == 1


@pytest.mark.parametrize("tracks_per_job", [15, 33, 64])
def test_batch_sizes_are_about_tracks_per_job(tracks_per_job):
    batches = assign_batches(_collection(), tracks_per_job=tracks_per_job)
    sizes = [len(batch) for batch in batches.values()]
    assert max(sizes) <= tracks_per_job
    assert max(sizes) >= tracks_per_job - len(GENRES)


def test_batch_names_and_order():
    tracks = _collection(n_per_genre=30)[::-1]  # reversed input: output is still ordered
    batches = assign_batches(tracks, tracks_per_job=100)
    assert list(batches) == ["batch0000", "batch0001", "batch0002"]
    for batch in batches.values():
        ids = [t.track for t in batch]
        assert ids == sorted(ids)


def test_batches_with_fewer_genres():
    tracks = _collection(n_per_genre=20, genres=("blues", "rock"))
    batches = assign_batches(tracks, tracks_per_job=10, n_genres=2)
    assert len(batches) == 4
    assert {len(b) for b in batches.values()} == {10}


def test_tracks_per_job_must_be_positive():
    with pytest.raises(ValueError, match="tracks_per_job"):
        assign_batches(_collection(n_per_genre=1), tracks_per_job=0)


def _changed(before: dict[str, frozenset[str]], after: dict[str, frozenset[str]]) -> set[str]:
    return {name for name in after if before.get(name) != after[name]}


def _assert_stable(old_tracks, new_tracks, tracks_per_job=100):
    before = _membership(assign_batches(old_tracks, tracks_per_job))
    after = _membership(assign_batches(old_tracks + new_tracks, tracks_per_job))
    changed = _changed(before, after)
    # No batch disappears, and every unchanged name keeps exactly its tracks.
    assert set(before) <= set(after)
    for name in set(before) - changed:
        assert after[name] == before[name]
    # Every new clip sits in a changed batch, and the changed batches are few and small.
    new_ids = {t.track for t in new_tracks}
    assert new_ids <= set().union(*(after[name] for name in changed))
    assert len(changed) <= math.ceil(len(new_tracks) / (tracks_per_job // len(GENRES)))
    # At most one existing batch re-extracts with them (when they are too few for their own).
    assert sum(len(after[name]) for name in changed) <= tracks_per_job + len(new_tracks)
    return changed


def test_adding_clips_of_one_genre_leaves_existing_batches_unchanged():
    old = _collection()
    new = [
        Track(f"blues.{i:05d}", "blues", f"genres/blues/blues.{i:05d}.wav") for i in range(100, 110)
    ]
    changed = _assert_stable(old, new)
    # Ten clips are too few for a batch of their own: they join the last one.
    assert changed == {"batch0009"}


def test_adding_one_clip_per_genre_leaves_existing_batches_unchanged():
    old = _collection()
    new = [Track(f"{g}.00100", g, f"genres/{g}/{g}.00100.wav") for g in GENRES]
    changed = _assert_stable(old, new)
    assert changed == {"batch0009"}


def test_filling_a_gap_changes_only_its_batch():
    full = _collection()
    gap = {"jazz.00055", "rock.00051"}
    old = [t for t in full if t.track not in gap]
    new = [t for t in full if t.track in gap]
    changed = _assert_stable(old, new)
    assert changed == {"batch0005"}


def test_batches_do_not_depend_on_input_order_or_other_tracks():
    tracks = _collection()
    full = assign_batches(tracks, 100)
    shuffled = list(tracks)
    random.Random(0).shuffle(shuffled)
    assert _membership(assign_batches(shuffled, 100)) == _membership(full)
    subset = assign_batches(tracks[::3], 100)
    for name, batch in subset.items():
        assert {t.track for t in batch} <= {t.track for t in full[name]}


def test_a_few_stray_clip_numbers_join_the_batch_before():
    # The GTZAN mini set: clips 0-9 of every genre, but jazz 3 and 9 replaced by 11 and 12.
    tracks = [t for t in _collection(n_per_genre=10) if t.track not in ("jazz.00003", "jazz.00009")]
    tracks += _collection(n_per_genre=2, genres=("jazz",), start=11)
    batches = assign_batches(tracks, tracks_per_job=50)
    assert {name: len(batch) for name, batch in batches.items()} == {
        "batch0000": 49,
        "batch0001": 51,
    }
    assert {"jazz.00011", "jazz.00012"} <= {t.track for t in batches["batch0001"]}


def test_small_blocks_do_not_chain():
    # 30 clips of arbitrary names spread over the 20 blocks of GTZAN's numbers: every
    # block is small, and none swallows the next (which would make one batch's
    # membership depend on many): each batch is one block.
    names = [f"song_{chr(97 + i)}{chr(97 + j)}" for i in range(5) for j in range(6)]
    tracks = [Track(track=name, genre="rock", path=f"genres/rock/{name}.wav") for name in names]
    batches = assign_batches(tracks, tracks_per_job=50)
    assert len(batches) > 1
    for batch in batches.values():
        assert len({track_number(track.track) // 5 for track in batch}) == 1


def test_clips_named_by_title_batch_as_gtzan_clips_do():
    # 100 clips of each genre without a clip number: 20 jobs of about 50, not a job of
    # one or two clips each (1000 jobs, each paying Python's and librosa's start-up).
    rng = random.Random(0)
    tracks = [
        Track(track=name, genre=genre, path=f"genres/{genre}/{name}.wav")
        for genre in GENRES
        for name in ("".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(100))
    ]
    batches = assign_batches(tracks, tracks_per_job=50)
    assert len(batches) <= 20
    assert max(len(batch) for batch in batches.values()) < 2 * 50
    # One more such clip changes the one batch it falls in.
    extra = Track("another_title", "rock", "genres/rock/another_title.wav")
    changed = _changed(
        _membership(batches), _membership(assign_batches([*tracks, extra], tracks_per_job=50))
    )
    assert len(changed) == 1


def test_a_stray_clip_leaves_a_batch_when_clips_come_between():
    # Clips 0-4 of every genre and a stray jazz 12 (block 2): the stray clip has no
    # block 1 to join, so it is a batch of its own. Adding clips 5-9 makes block 1,
    # which it joins: batch0000 keeps its clips and is not extracted again (joining
    # whichever block came before, it sat in batch0000 first and moved out).
    old = [*_collection(n_per_genre=5), *_collection(n_per_genre=1, genres=("jazz",), start=12)]
    before = _membership(assign_batches(old, tracks_per_job=50))
    assert before["batch0002"] == {"jazz.00012"} and len(before["batch0000"]) == 50
    after = _membership(assign_batches(old + _collection(n_per_genre=5, start=5), 50))
    assert after["batch0000"] == before["batch0000"]
    assert after["batch0001"] >= {"jazz.00012", "blues.00005"} and "batch0002" not in after


def test_a_small_block_after_a_small_one_stays_a_batch_of_its_own():
    # Clips 0-9 of jazz and rock fill blocks 0 and 1 (5 clip numbers each, 10 tracks);
    # stray clips 12, 17 and 22 are one track in each of blocks 2, 3 and 4. Clip 12 joins
    # the full block before it; clip 17's block before is small, so it stays alone, and
    # clip 22 must not join that small batch: a batch's tracks depend on its own block
    # and the one before, never on a chain of small blocks.
    tracks = _collection(n_per_genre=10, genres=("jazz", "rock"))
    tracks += [
        Track(f"jazz.{i:05d}", "jazz", f"genres/jazz/jazz.{i:05d}.wav") for i in (12, 17, 22)
    ]
    batches = _membership(assign_batches(tracks, tracks_per_job=10, n_genres=2))
    assert {name: len(batch) for name, batch in batches.items()} == {
        "batch0000": 10,
        "batch0001": 11,
        "batch0003": 1,
        "batch0004": 1,
    }
    assert "jazz.00012" in batches["batch0001"]
    assert batches["batch0003"] == {"jazz.00017"} and batches["batch0004"] == {"jazz.00022"}
