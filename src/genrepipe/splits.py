"""Split schemes: which tracks train and which test, per fold.

A split is one long table with a row per (fold, track): columns ``fold``,
``track``, ``genre`` and ``subset`` (``train``, ``valid`` or ``test``). Splits are
made on track ids, so every window or segment of a track follows its track and
never sits on both sides.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from genrepipe.config import split_size_error
from genrepipe.dataset import AUDIO_EXTENSIONS

SUBSETS = ("train", "valid", "test")


class SplitError(ValueError):
    """Tracks or settings the split cannot use (a genre of one track, a list naming none):
    the message says which and what to do, so a job's log gives it without a traceback."""


#: A comment of a list file: from a ``#`` that starts the line or follows a blank.
_COMMENT = re.compile(r"(^|\s)#.*$")


def holdout_split(
    tracks: Sequence[str], genres: Sequence[str], *, test_size: float = 0.1, seed: int = 0
) -> pd.DataFrame:
    """The reference protocol: one stratified train/test split (90/10 by default).

    Parameters
    ----------
    tracks, genres
        Track ids and their genres, aligned.
    test_size
        Fraction of each genre held out for testing, in (0, 1).
    seed
        Seed of the shuffle.
    """
    tracks, genres = _check_tracks(tracks, genres)
    if not 0 < test_size < 1:
        raise SplitError(f"split.holdout.test_size must be in (0, 1), got {test_size}")
    # Say which setting to change rather than pass sklearn's error on.
    if problem := split_size_error("holdout", {"test_size": test_size}, list(genres)):
        raise SplitError(problem)
    from sklearn.model_selection import train_test_split  # ~1 s: not when parsing lists

    train, test = train_test_split(
        np.arange(len(tracks)), test_size=test_size, stratify=genres, random_state=seed
    )
    subset = np.empty(len(tracks), dtype=object)
    subset[train] = "train"
    subset[test] = "test"
    return _frame(0, tracks, genres, subset)


def kfold_split(
    tracks: Sequence[str],
    genres: Sequence[str],
    *,
    n_splits: int = 10,
    n_repeats: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Stratified k-fold, optionally repeated with different shuffles.

    Folds are numbered ``repeat * n_splits + k``; within one repeat every track
    is tested exactly once.
    """
    tracks, genres = _check_tracks(tracks, genres)
    if n_splits < 2:
        raise SplitError(f"split.kfold.n_splits must be at least 2, got {n_splits}")
    if problem := split_size_error("kfold", {"n_splits": n_splits}, list(genres)):
        raise SplitError(problem)
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    frames = []
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(tracks)), genres)):
        subset = np.full(len(tracks), "train", dtype=object)
        subset[test] = "test"
        frames.append(_frame(fold, tracks, genres, subset))
    return pd.concat(frames, ignore_index=True)


def lists_split(
    tracks: Sequence[str],
    genres: Sequence[str],
    list_files: dict[str, str | os.PathLike],
    *,
    pool: str = "the dataset",
    pool_note: str = "",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Train/valid/test membership read from list files (one fold).

    Each list holds one entry per line, such as ``blues/blues.00029.wav``; the
    track id is the file name without its audio extension (:func:`listed_track`).
    Tracks named in no list are left out. Listed tracks absent from the dataset are
    counted, not fatal, unless none of a train or test list's is there; ``pool``
    names the tracks given in that message, and ``pool_note`` ends it.

    Returns
    -------
    split, missing
        The split table and, per subset, how many listed tracks were absent.
    """
    tracks, genres = _check_tracks(tracks, genres)
    genre_of = dict(zip(tracks, genres, strict=True))
    missing, listed_in, subset_of = {}, {}, {}
    train_found: list[str] = []
    for subset, list_file in list_files.items():
        if subset not in SUBSETS:
            raise SplitError(f"split.lists has unknown subset {subset!r} (known: {SUBSETS})")
        list_file = Path(list_file)
        if list_file.is_dir():
            raise IsADirectoryError(
                f"split.lists.{subset}: {list_file} is a folder, not a list file"
            )
        if not list_file.is_file():
            raise FileNotFoundError(f"split.lists.{subset}: list file {list_file} does not exist")
        try:
            listed = read_list(list_file)
        except UnicodeDecodeError as error:  # Notepad's "Unicode" (UTF-16), say
            raise SplitError(
                f"split.lists.{subset}: list file {list_file} is not UTF-8 text (byte "
                f"{error.object[error.start]:#04x} at {error.start}): save it as UTF-8"
            ) from None
        listed_in[subset] = listed
        if repeated := [track for track, n in Counter(listed).items() if n > 1]:
            raise SplitError(
                f"split.lists.{subset}: {list_file} lists {', '.join(repeated[:5])}"
                f"{' and more' if len(repeated) > 5 else ''} more than once"
            )
        missing[subset] = sum(track not in genre_of for track in listed)
        found = [track for track in listed if track in genre_of]
        if not found and subset in ("train", "test"):
            if not listed:
                raise SplitError(f"split.lists.{subset}: {list_file} lists no track")
            example = f" (it lists {listed[0]!r}, {pool} has {tracks[0]!r})" if len(tracks) else ""
            raise SplitError(
                f"split.lists.{subset}: none of the {len(listed)} tracks listed in {list_file} "
                f"is in {pool}{example}{pool_note}"
            )
        if subset == "train":
            train_found = found
        subset_of.update(dict.fromkeys(found, subset))
    # Every line counts, not only the clips this dataset has: lists that overlap are wrong
    # whatever subset of GTZAN they meet.
    subsets_of: dict[str, list[str]] = {}
    for subset, listed in listed_in.items():
        for track in listed:
            subsets_of.setdefault(track, []).append(subset)
    if named := [f"{t} ({' and '.join(s)})" for t, s in subsets_of.items() if len(s) > 1]:
        raise SplitError(f"tracks listed in more than one subset: {', '.join(named[:5])}")
    if "train" in list_files and len({genre_of[track] for track in train_found}) == 1:
        raise SplitError(
            f"split.lists.train: the {len(train_found)} tracks of {list_files['train']} in "
            f"{pool} are all of one genre, {genre_of[train_found[0]]}: a classifier needs "
            f"two{pool_note}"
        )
    # Rows in the dataset's order, as the other schemes: the order of a list's lines (or of
    # the lists) must not reorder training rows, which moves inner folds and fits.
    keep = np.array([track in subset_of for track in tracks], dtype=bool)
    subsets = np.array([subset_of[track] for track in tracks[keep]], dtype=object)
    return _frame(0, tracks[keep], genres[keep], subsets), missing


def read_list(list_file: str | os.PathLike) -> list[str]:
    """The track ids a list file names, one per line (:func:`listed_track`).

    Blank lines and comments (from ``#`` at a line's start, or after a blank, to its end)
    are skipped, so a clip commented out is out; a UTF-8 byte-order mark is not part of
    the first name.
    """
    listed = []
    for line in Path(list_file).read_text(encoding="utf-8-sig").splitlines():
        entry = _COMMENT.sub("", line).strip()
        if entry:
            listed.append(listed_track(entry))
    return listed


def lists_warnings(
    tracks: Sequence[str], genres: Sequence[str], list_files: dict[str, str | os.PathLike]
) -> list[str]:
    """What a user should hear of the ``lists`` split of these tracks before the run:
    listed tracks the dataset lacks, and genres tested but never trained. Raises as
    :func:`lists_split` does (a missing list file, a list naming no track)."""
    split, missing = lists_split(tracks, genres, list_files)
    messages = [
        f"split.lists.{subset}: {count} of the {count + (split['subset'] == subset).sum()} "
        f"tracks listed in {list_files[subset]} are not in the dataset"
        for subset, count in missing.items()
        if count
    ]
    messages += [
        f"split.lists: no training track of {', '.join(names)}: "
        "their test tracks can only be misclassified"
        for names in untrained_genres(split).values()
    ]
    return messages


def listed_track(line: str) -> str:
    """The track id of a list file's line: its file name without an audio extension
    (``blues/blues.00029.wav`` and ``blues.00029`` both give ``blues.00029``)."""
    name = PurePosixPath(line.strip().replace("\\", "/")).name
    stem, dot, extension = name.rpartition(".")
    # Path.stem would cut ``blues.00029`` to ``blues``: only an audio extension goes.
    return stem if dot and f".{extension.lower()}" in AUDIO_EXTENSIONS else name


def untrained_genres(split: pd.DataFrame) -> dict[int, list[str]]:
    """By fold, the genres with test tracks but no training track: a model cannot
    predict them, so each of their test tracks counts as an error."""
    untrained = {}
    for fold, rows in split.groupby("fold"):
        trained = set(rows.loc[rows["subset"] == "train", "genre"])
        tested = set(rows.loc[rows["subset"] == "test", "genre"])
        if tested - trained:
            untrained[int(fold)] = sorted(tested - trained)
    return untrained


def untested_genres(split: pd.DataFrame) -> list[str]:
    """The genres of the split that no fold tests (a holdout of a genre of two tracks,
    a genre listed for training only): the test accuracy says nothing of them."""
    tested = set(split.loc[split["subset"] == "test", "genre"])
    return sorted(set(split["genre"]) - tested)


def check_split(split: pd.DataFrame) -> None:
    """Raise if the split is empty, or any fold puts one track in two subsets or
    lacks train or test rows."""
    if split.empty:
        raise SplitError("the split holds no track")
    for fold, rows in split.groupby("fold"):
        if rows["track"].duplicated().any():
            raise SplitError(f"fold {fold} lists a track twice")
        for needed in ("train", "test"):
            if not (rows["subset"] == needed).any():
                raise SplitError(f"fold {fold} has no {needed} tracks")


def _check_tracks(tracks, genres) -> tuple[np.ndarray, np.ndarray]:
    tracks, genres = np.asarray(tracks, dtype=object), np.asarray(genres, dtype=object)
    if len(tracks) != len(genres):
        raise SplitError(f"{len(tracks)} tracks but {len(genres)} genres")
    if len(set(tracks)) != len(tracks):
        raise SplitError("track ids are not unique")
    return tracks, genres


def _frame(fold: int, tracks, genres, subset) -> pd.DataFrame:
    return pd.DataFrame({"fold": fold, "track": tracks, "genre": genres, "subset": subset})
