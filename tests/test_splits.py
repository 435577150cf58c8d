"""Tests of genrepipe.splits: holdout, (repeated) k-fold, list files and the split check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrepipe import GENRES
from genrepipe.dataset import discover_tracks
from genrepipe.splits import (
    check_split,
    holdout_split,
    kfold_split,
    listed_track,
    lists_split,
    read_list,
    untested_genres,
    untrained_genres,
)

COLUMNS = ["fold", "track", "genre", "subset"]


@pytest.fixture(scope="module")
def collection() -> tuple[list[str], list[str]]:
    """10 genres x 100 ids, as GTZAN."""
    tracks = [f"{g}.{i:05d}" for g in GENRES for i in range(100)]
    genres = [g for g in GENRES for _ in range(100)]
    return tracks, genres


def _test_set(split: pd.DataFrame, fold: int = 0) -> set[str]:
    rows = split[(split["fold"] == fold) & (split["subset"] == "test")]
    return set(rows["track"])


# --------------------------------------------------------------------------- holdout


def test_holdout_is_stratified_90_10(collection):
    tracks, genres = collection
    split = holdout_split(tracks, genres, test_size=0.1, seed=0)

    assert list(split.columns) == COLUMNS
    assert len(split) == len(tracks)
    assert set(split["fold"]) == {0}
    assert sorted(split["track"]) == sorted(tracks)
    counts = split.groupby(["genre", "subset"]).size().unstack("subset")
    assert (counts["train"] == 90).all()
    assert (counts["test"] == 10).all()
    assert set(counts.index) == set(GENRES)
    # A track keeps its own genre.
    assert (split["track"].str.split(".").str[0] == split["genre"]).all()
    check_split(split)


def test_holdout_is_reproducible_and_seed_dependent(collection):
    tracks, genres = collection
    a = holdout_split(tracks, genres, seed=7)
    b = holdout_split(tracks, genres, seed=7)
    c = holdout_split(tracks, genres, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert _test_set(a) != _test_set(c)


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5])
def test_holdout_rejects_bad_test_size(collection, test_size):
    tracks, genres = collection
    # Our message, not scikit-learn's own (also a ValueError naming test_size).
    with pytest.raises(ValueError, match=r"^split\.holdout\.test_size must be in \(0, 1\)"):
        holdout_split(tracks, genres, test_size=test_size)


def test_holdout_too_small_for_every_genre_names_the_setting():
    tracks = [f"{g}.{i:05d}" for g in "abcd" for i in range(4)]
    genres = [t.split(".")[0] for t in tracks]
    assert len(holdout_split(tracks, genres, test_size=0.25).query("subset == 'test'")) == 4
    with pytest.raises(ValueError, match=r"test_size 0.1 of 16 tracks gives 2 test .* \(4\)"):
        holdout_split(tracks, genres, test_size=0.1)
    with pytest.raises(ValueError, match="gives 14 test and 2 training tracks"):
        holdout_split(tracks, genres, test_size=0.85)


def test_tracks_and_genres_must_align_and_be_unique():
    with pytest.raises(ValueError, match="3 tracks but 2 genres"):
        holdout_split(["a.0", "a.1", "a.2"], ["a", "a"])
    with pytest.raises(ValueError, match="not unique"):
        kfold_split(["a.0", "a.0", "b.0", "b.1"], ["a", "a", "b", "b"], n_splits=2)


# --------------------------------------------------------------------------- k-fold


def test_kfold_test_sets_partition_the_tracks(collection):
    tracks, genres = collection
    split = kfold_split(tracks, genres, n_splits=5, seed=0)

    assert list(split.columns) == COLUMNS
    assert sorted(split["fold"].unique()) == [0, 1, 2, 3, 4]
    test_sets = [_test_set(split, fold) for fold in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not test_sets[i] & test_sets[j]
    assert set().union(*test_sets) == set(tracks)
    assert sum(len(s) for s in test_sets) == len(tracks)
    # Every fold lists every track once, as train or test.
    for fold, rows in split.groupby("fold"):
        assert sorted(rows["track"]) == sorted(tracks), fold
        assert set(rows["subset"]) == {"train", "test"}
    check_split(split)


def test_kfold_is_stratified(collection):
    tracks, genres = collection
    split = kfold_split(tracks, genres, n_splits=5, seed=0)
    test = split[split["subset"] == "test"]
    per_genre = test.groupby(["fold", "genre"]).size()
    assert (per_genre == 20).all()
    assert len(per_genre) == 5 * len(GENRES)


def test_kfold_is_reproducible_and_seed_dependent(collection):
    tracks, genres = collection
    a = kfold_split(tracks, genres, n_splits=10, seed=3)
    b = kfold_split(tracks, genres, n_splits=10, seed=3)
    c = kfold_split(tracks, genres, n_splits=10, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert _test_set(a, 0) != _test_set(c, 0)


def test_repeated_kfold(collection):
    tracks, genres = collection
    n_splits, n_repeats = 4, 3
    split = kfold_split(tracks, genres, n_splits=n_splits, n_repeats=n_repeats, seed=0)

    assert split["fold"].nunique() == n_splits * n_repeats
    assert sorted(split["fold"].unique()) == list(range(n_splits * n_repeats))
    assert len(split) == n_splits * n_repeats * len(tracks)
    for repeat in range(n_repeats):
        folds = range(repeat * n_splits, (repeat + 1) * n_splits)
        test = split[split["fold"].isin(folds) & (split["subset"] == "test")]
        # Within one repeat every track is tested exactly once.
        assert test["track"].value_counts().eq(1).all()
        assert set(test["track"]) == set(tracks)
    # Repeats shuffle differently.
    assert _test_set(split, 0) != _test_set(split, n_splits)
    check_split(split)


def test_kfold_n_splits_larger_than_smallest_genre(collection):
    tracks = ["a.0", "a.1", "a.2", "b.0", "b.1", "b.2", "b.3", "b.4", "b.5"]
    genres = [t.split(".")[0] for t in tracks]
    with pytest.raises(ValueError) as info:
        kfold_split(tracks, genres, n_splits=4)
    assert "n_splits=4" in str(info.value)
    assert "3 tracks of the smallest genre (a)" in str(info.value)
    # Exactly the smallest genre's size is fine.
    assert kfold_split(tracks, genres, n_splits=3)["fold"].nunique() == 3


def test_a_genre_of_one_track_is_named_before_sklearn_refuses_it():
    tracks = ["a.0", "a.1", "a.2", "b.0", "b.1", "b.2", "c.0"]
    genres = [t.split(".")[0] for t in tracks]
    # test_size 0.5 gives enough tracks on each side; c's one track cannot be on both.
    with pytest.raises(ValueError) as info:
        holdout_split(tracks, genres, test_size=0.5)
    assert str(info.value).startswith("c: one track, and a stratified split")
    with pytest.raises(ValueError, match="^c, d: one track each"):
        holdout_split([*tracks, "d.0"], [*genres, "d"], test_size=0.5)


def test_one_genre_alone_is_no_classification_task():
    tracks = ["a.0", "a.1", "a.2", "a.3"]
    for split in (
        lambda: holdout_split(tracks, ["a"] * 4, test_size=0.5),
        lambda: kfold_split(tracks, ["a"] * 4, n_splits=2),
    ):
        with pytest.raises(ValueError, match=r"one genre only \(a\): a classifier needs"):
            split()


def test_kfold_needs_two_splits(collection):
    tracks, genres = collection
    with pytest.raises(ValueError, match="n_splits must be at least 2"):
        kfold_split(tracks, genres, n_splits=1)


# --------------------------------------------------------------------------- list files


def _write_list(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_collection() -> tuple[list[str], list[str]]:
    tracks = [f"{g}.{i:05d}" for g in ("blues", "classical") for i in range(5)]
    return tracks, [t.split(".")[0] for t in tracks]


def test_lists_split_assigns_listed_tracks_and_counts_absent_ones(tmp_path, small_collection):
    tracks, genres = small_collection
    lists = {
        "train": _write_list(
            tmp_path / "train.txt",
            [
                "blues/blues.00000.wav",
                "blues/blues.00001.wav",
                "",
                "classical/classical.00000.wav",
                "jazz/jazz.00000.wav",  # not in the dataset
            ],
        ),
        "valid": _write_list(tmp_path / "valid.txt", ["  blues/blues.00002.wav  "]),
        "test": _write_list(
            tmp_path / "test.txt",
            ["classical/classical.00001.au", "rock/rock.00009.wav", "rock/rock.00010.wav"],
        ),
    }

    split, missing = lists_split(tracks, genres, lists)

    assert missing == {"train": 1, "valid": 0, "test": 2}
    assert list(split.columns) == COLUMNS
    assert set(split["fold"]) == {0}
    membership = dict(zip(split["track"], split["subset"], strict=True))
    assert membership == {
        "blues.00000": "train",
        "blues.00001": "train",
        "classical.00000": "train",
        "blues.00002": "valid",
        "classical.00001": "test",
    }
    # Genres come from the dataset, not from the list.
    assert (split["track"].str.split(".").str[0] == split["genre"]).all()
    # Unlisted tracks are left out.
    assert "blues.00003" not in membership
    assert "classical.00004" not in membership
    check_split(split)


def test_make_split_names_the_usable_tracks_in_no_list(tmp_path, small_collection, caplog):
    import json

    from genrepipe.tasks import make_split

    tracks, genres = small_collection
    tracks, genres = tracks + ["jazz.00000", "jazz.00001"], genres + ["jazz", "jazz"]
    pd.DataFrame({"track": tracks, "genre": genres}).to_csv(
        tmp_path / "tracks.tsv", sep="\t", index=False
    )
    lists = {
        "train": _write_list(
            tmp_path / "train.txt", [f"blues/{t}.wav" for t in tracks[:4]] + tracks[-2:]
        ),
        "test": _write_list(
            tmp_path / "test.txt",
            [f"classical/{t}.wav" for t in tracks[5:9]] + ["pop/pop.00000.wav"],
        ),
    }
    with caplog.at_level("INFO", logger="genrepipe"):
        make_split("lists", lists, tmp_path / "tracks.tsv", tmp_path / "s.tsv", tmp_path / "s.json")
    report = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert report["unlisted"] == ["blues.00004", "classical.00004"]
    assert report["listed_missing"] == {"train": 0, "test": 1}
    assert (
        "2 usable tracks are in no list and left out: blues.00004, classical.00004" in caplog.text
    )
    # Its lists train on blues and jazz and test classical: said, as the console did.
    assert "fold 0: no training track of classical: their test tracks" in caplog.text
    make_split(
        "holdout",
        {"test_size": 0.4},
        tmp_path / "tracks.tsv",
        tmp_path / "h.tsv",
        tmp_path / "h.json",
    )
    assert json.loads((tmp_path / "h.json").read_text(encoding="utf-8"))["unlisted"] == []


@pytest.mark.parametrize(
    "line",
    [
        "blues/blues.00003.wav",
        "blues.00003",
        " blues/blues.00003.AU ",
        "genres\\blues\\blues.00003.au",
    ],
)
def test_listed_track_drops_only_an_audio_extension(line):
    # Path.stem cut an id written without extension (blues.00003) to its genre, blues.
    assert listed_track(line) == "blues.00003"


def test_a_list_file_that_is_not_utf8_is_named_with_its_setting(tmp_path, small_collection):
    # Saved as Notepad's "Unicode" (UTF-16): the check said only "'utf-8' codec can't
    # decode byte 0xff in position 0", naming neither the file nor the setting.
    tracks, genres = small_collection
    train = _write_list(tmp_path / "train.txt", ["blues.00000", "classical.00000"])
    test = tmp_path / "test.txt"
    test.write_text("blues.00001\nclassical.00001\n", encoding="utf-16")
    with pytest.raises(ValueError) as info:
        lists_split(tracks, genres, {"train": train, "test": test})
    assert str(info.value) == (
        f"split.lists.test: list file {test} is not UTF-8 text (byte 0xff at 0): save it as UTF-8"
    )


def test_lists_naming_no_track_of_the_dataset_are_refused(tmp_path, small_collection):
    tracks, genres = small_collection
    train = _write_list(tmp_path / "train.txt", ["blues.00000", "classical.00000"])
    test = _write_list(tmp_path / "test.txt", ["rock/rock.00001.wav", "rock/rock.00002.wav"])
    with pytest.raises(ValueError) as info:
        lists_split(tracks, genres, {"train": train, "test": test})
    assert str(info.value) == (
        f"split.lists.test: none of the 2 tracks listed in {test} is in the dataset "
        "(it lists 'rock.00001', the dataset has 'blues.00000')"
    )
    empty = _write_list(tmp_path / "empty.txt", [""])
    with pytest.raises(ValueError, match=f"split.lists.test: {empty} lists no track$"):
        lists_split(tracks, genres, {"train": train, "test": empty})
    # In the workflow, clips that failed the audio check are not among the tracks given.
    from genrepipe.tasks import make_split

    pd.DataFrame({"track": tracks, "genre": genres}).to_csv(
        tmp_path / "tracks.tsv", sep="\t", index=False
    )
    with pytest.raises(ValueError) as info:
        make_split(
            "lists",
            {"train": train, "test": test},
            tmp_path / "tracks.tsv",
            tmp_path / "s.tsv",
            tmp_path / "s.json",
        )
    table = tmp_path / "tracks.tsv"
    assert str(info.value).endswith(
        f"is in {table} (it lists 'rock.00001', {table} has 'blues.00000'): {table} holds the "
        "usable tracks, not the clips that failed the audio check (see failed_tracks.tsv beside it)"
    )
    # A valid list is optional: naming nothing there is not an error.
    valid = _write_list(tmp_path / "valid.txt", ["rock/rock.00003.wav"])
    test = _write_list(tmp_path / "test.txt", ["blues/blues.00001.wav"])
    split, missing = lists_split(tracks, genres, {"train": train, "valid": valid, "test": test})
    assert len(split) == 3 and missing == {"train": 0, "valid": 1, "test": 0}


def test_genres_tested_but_never_trained_are_named(tmp_path, small_collection):
    from genrepipe.splits import lists_warnings

    tracks, genres = small_collection
    tracks, genres = tracks + ["jazz.00000"], genres + ["jazz"]
    lists = {
        "train": _write_list(
            tmp_path / "train.txt", ["blues.00000", "blues.00001", "jazz.00000", "rock.00000"]
        ),
        "test": _write_list(tmp_path / "test.txt", ["blues.00002", "classical.00003"]),
    }
    split, _ = lists_split(tracks, genres, lists)
    assert untrained_genres(split) == {0: ["classical"]}
    assert lists_warnings(tracks, genres, lists) == [
        f"split.lists.train: 1 of the 4 tracks listed in {lists['train']} are not in the dataset",
        "split.lists: no training track of classical: their test tracks can only be misclassified",
    ]
    assert untrained_genres(kfold_split(tracks[:-1], genres[:-1], n_splits=5, seed=0)) == {}


def test_untrained_genres_are_those_tested_and_never_trained():
    def split(train: list[str], test: list[str]) -> pd.DataFrame:
        rows = [
            (0, f"{g}.{subset}", g, subset)
            for subset, gs in (("train", train), ("test", test))
            for g in gs
        ]
        return pd.DataFrame(rows, columns=COLUMNS)

    assert untrained_genres(split(["blues", "jazz"], ["blues", "jazz", "classical"])) == {
        0: ["classical"]
    }
    # A genre trained and never tested is no error of the model's, but the test set's.
    never_tested = split(["blues", "classical", "jazz"], ["blues", "classical"])
    assert untrained_genres(never_tested) == {}
    assert untested_genres(never_tested) == ["jazz"]


def test_a_holdout_leaving_genres_untested_says_so(tmp_path, caplog):
    # Two clips of jazz and metal beside 12 of every other genre: a 10% holdout tests
    # neither, and the accuracy of the run spoke of 8 genres without a word.
    from genrepipe.tasks import make_split

    counts = dict.fromkeys(GENRES, 12) | {"jazz": 2, "metal": 2}
    tracks = [f"{genre}.{i:05d}" for genre, n in counts.items() for i in range(n)]
    table = pd.DataFrame({"track": tracks, "genre": [t.split(".")[0] for t in tracks]})
    table.to_csv(tmp_path / "tracks.tsv", sep="\t", index=False)
    with caplog.at_level("WARNING", logger="genrepipe"):
        make_split(
            "holdout",
            {"test_size": 0.1, "seed": 42},
            tmp_path / "tracks.tsv",
            tmp_path / "split.tsv",
            tmp_path / "split.json",
        )
    assert "split holdout: no test track of jazz, metal: the test accuracy says" in caplog.text
    assert untested_genres(kfold_split(tracks, table["genre"], n_splits=2, seed=0)) == []


def test_check_split_refuses_an_empty_split():
    with pytest.raises(ValueError, match="the split holds no track"):
        check_split(pd.DataFrame(columns=COLUMNS))


def test_lists_split_follows_the_dataset_order_not_the_lines(tmp_path, small_collection):
    """Lists naming the same tracks in another order give the same table (and models)."""
    tracks, genres = small_collection
    train = [f"{g}/{g}.0000{i}.wav" for g in ("blues", "classical") for i in (0, 1, 2)]
    test = ["blues/blues.00004.wav", "classical/classical.00003.wav"]
    forward = {
        "train": _write_list(tmp_path / "train.txt", train),
        "test": _write_list(tmp_path / "test.txt", test),
    }
    backward = {  # lines reversed, and test given before train
        "test": _write_list(tmp_path / "test_reversed.txt", test[::-1]),
        "train": _write_list(tmp_path / "train_reversed.txt", train[::-1]),
    }
    split, _ = lists_split(tracks, genres, forward)
    pd.testing.assert_frame_equal(lists_split(tracks, genres, backward)[0], split)
    assert list(split["track"]) == [t for t in tracks if t in set(split["track"])]


def test_lists_split_missing_list_file_is_named(tmp_path, small_collection):
    tracks, genres = small_collection
    train = _write_list(tmp_path / "train.txt", ["blues/blues.00000.wav"])
    with pytest.raises(FileNotFoundError) as info:
        lists_split(tracks, genres, {"train": train, "test": tmp_path / "absent_test.txt"})
    assert "absent_test.txt" in str(info.value)
    assert "split.lists.test" in str(info.value)


def test_lists_split_unknown_subset(tmp_path, small_collection):
    tracks, genres = small_collection
    extra = _write_list(tmp_path / "extra.txt", ["blues/blues.00000.wav"])
    with pytest.raises(ValueError, match="'holdout'"):
        lists_split(tracks, genres, {"holdout": extra})


def test_lists_split_track_in_two_lists(tmp_path, small_collection):
    tracks, genres = small_collection
    lists = {
        "train": _write_list(
            tmp_path / "train.txt", ["blues/blues.00000.wav", "blues/blues.00001.wav"]
        ),
        "test": _write_list(tmp_path / "test.txt", ["blues/blues.00001.wav"]),
    }
    with pytest.raises(ValueError, match="blues.00001"):
        lists_split(tracks, genres, lists)


# --------------------------------------------------------------------------- check_split


def test_check_split_catches_a_track_in_two_subsets():
    split = pd.DataFrame(
        {
            "fold": [0, 0, 0, 1, 1, 1],
            "track": ["a.0", "a.1", "a.1", "a.0", "a.1", "b.0"],
            "genre": ["a", "a", "a", "a", "a", "b"],
            "subset": ["train", "train", "test", "train", "test", "test"],
        }
    )
    with pytest.raises(ValueError, match="fold 0"):
        check_split(split)
    check_split(split[split["fold"] == 1])  # the other fold alone is fine


def test_same_track_in_different_folds_is_fine():
    split = pd.DataFrame(
        {
            "fold": [0, 0, 1, 1],
            "track": ["a.0", "a.1", "a.0", "a.1"],
            "genre": ["a"] * 4,
            "subset": ["train", "test", "test", "train"],
        }
    )
    check_split(split)


@pytest.mark.parametrize("present", ["train", "test"])
def test_check_split_needs_train_and_test(present):
    split = pd.DataFrame(
        {"fold": [2, 2], "track": ["a.0", "a.1"], "genre": ["a", "a"], "subset": [present] * 2}
    )
    absent = {"train": "test", "test": "train"}[present]
    with pytest.raises(ValueError, match=f"fold 2 has no {absent}"):
        check_split(split)


# --------------------------------------------------------------------------- real lists


def test_filtered_lists_on_gtzan_mini(kereliuk_splits_dir, gtzan_mini_dir):
    discovery = discover_tracks(gtzan_mini_dir)
    assert discovery.tracks, "the mini set holds no tracks"
    tracks = [t.track for t in discovery.tracks]
    genres = [t.genre for t in discovery.tracks]
    files = {s: kereliuk_splits_dir / f"{s}_filtered.txt" for s in ("train", "valid", "test")}

    split, missing = lists_split(tracks, genres, files)

    present = set(tracks)
    n_assigned = split["subset"].value_counts().to_dict()
    total_listed = 0
    for subset, path in files.items():
        entries = [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        total_listed += len(entries)
        listed_ids = [Path(e).stem for e in entries]
        # Every listed entry is either assigned or counted as absent.
        assert missing[subset] + n_assigned.get(subset, 0) == len(entries), subset
        assert missing[subset] == sum(t not in present for t in listed_ids), subset
        assert set(split.loc[split["subset"] == subset, "track"]) == set(listed_ids) & present
        # The folder in the list agrees with the genre the dataset gives the track.
        listed_genre = {Path(e).stem: Path(e).parent.name for e in entries}
        rows = split[split["subset"] == subset]
        assert all(listed_genre[t] == g for t, g in zip(rows["track"], rows["genre"], strict=True))

    # The mini set holds a small part of GTZAN: most listed clips are absent.
    assert sum(missing.values()) > 0.5 * total_listed
    assert len(split) > 0
    assert not split["track"].duplicated().any()
    assert set(split["track"]) <= present
    assert np.isin(split["subset"], ["train", "valid", "test"]).all()
    check_split(split)


def test_list_comments_and_a_byte_order_mark_name_no_clip(tmp_path, small_collection):
    """A clip commented out stays out (it was tested, and counted its comment a missing
    clip); an editor's byte-order mark no longer hides the first name."""
    tracks, genres = small_collection
    train = _write_list(
        tmp_path / "train.txt",
        [
            "# Kereliuk et al. (2015), filtered",
            "blues/blues.00000.wav",
            "blues/blues.00001.wav  # same artist as 00000",
            "classical.00000\t# tab before the note",
            "#classical/classical.00001.wav",
            "  # blues/blues.00004.wav repeated clip",
        ],
    )
    test = tmp_path / "test.txt"
    test.write_bytes(b"\xef\xbb\xbfblues.00002.wav\r\nclassical.00002.wav\r\n")
    split, missing = lists_split(tracks, genres, {"train": train, "test": test})
    membership = dict(zip(split["track"], split["subset"], strict=True))
    assert membership == {
        "blues.00000": "train",
        "blues.00001": "train",
        "classical.00000": "train",
        "blues.00002": "test",
        "classical.00002": "test",
    }
    assert missing == {"train": 0, "test": 0}
    # A '#' inside a name is part of it.
    assert read_list(_write_list(tmp_path / "odd.txt", ["blues/take#2.wav"])) == ["take#2"]


def test_lists_that_overlap_are_refused_whatever_clips_the_dataset_has(tmp_path, small_collection):
    """The mini set holds none of the shared clip: the overlap was checked among present
    clips only, so the same lists stopped on full GTZAN and ran on the mini set."""
    tracks, genres = small_collection
    train = _write_list(tmp_path / "train.txt", ["blues.00000", "rock/rock.00030.wav"])
    test = _write_list(tmp_path / "test.txt", ["classical.00000", "rock/rock.00030.au"])
    with pytest.raises(ValueError) as info:
        lists_split(tracks, genres, {"train": train, "test": test})
    assert str(info.value) == "tracks listed in more than one subset: rock.00030 (train and test)"


def test_a_track_listed_twice_is_named_with_its_list_or_its_subsets(tmp_path, small_collection):
    # A line repeated in one list was "listed in more than one subset", naming no list.
    tracks, genres = small_collection
    train = _write_list(
        tmp_path / "train.txt", ["blues.00000", "blues/blues.00001.wav", "blues.00001"]
    )
    test = _write_list(tmp_path / "test.txt", ["classical.00000"])
    with pytest.raises(ValueError) as info:
        lists_split(tracks, genres, {"train": train, "test": test})
    assert str(info.value) == f"split.lists.train: {train} lists blues.00001 more than once"
    # Across lists: which ones.
    train = _write_list(tmp_path / "train.txt", ["blues.00000", "blues.00001"])
    test = _write_list(tmp_path / "test.txt", ["classical.00000", "blues/blues.00001.wav"])
    with pytest.raises(ValueError) as info:
        lists_split(tracks, genres, {"train": train, "test": test})
    assert str(info.value) == "tracks listed in more than one subset: blues.00001 (train and test)"


def test_a_train_list_of_one_genre_is_refused(tmp_path, small_collection):
    """Only a warning before: every classifier then failed in its training job."""
    tracks, genres = small_collection
    train = _write_list(tmp_path / "train.txt", ["blues.00000", "blues.00001", "jazz.00001"])
    test = _write_list(tmp_path / "test.txt", ["classical.00000", "blues.00002"])
    with pytest.raises(ValueError) as info:
        lists_split(tracks, genres, {"train": train, "test": test})
    assert str(info.value) == (
        f"split.lists.train: the 2 tracks of {train} in the dataset are all of one genre, "
        "blues: a classifier needs two"
    )
