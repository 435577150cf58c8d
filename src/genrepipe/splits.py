"""Split schemes: which tracks train and which test, per fold.

A split is one long table with a row per (fold, track): columns ``fold``,
``track``, ``genre`` and ``subset`` (``train``, ``valid`` or ``test``). Splits are
made on track ids, so every window or segment of a track follows its track and
never sits on both sides.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from genrepipe.config import split_size_error

SUBSETS = ("train", "valid", "test")


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
        raise ValueError(f"split.holdout.test_size must be in (0, 1), got {test_size}")
    # Say which setting to change rather than pass sklearn's error on.
    if problem := split_size_error("holdout", {"test_size": test_size}, list(genres)):
        raise ValueError(problem)
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
        raise ValueError(f"split.kfold.n_splits must be at least 2, got {n_splits}")
    if problem := split_size_error("kfold", {"n_splits": n_splits}, list(genres)):
        raise ValueError(problem)
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    frames = []
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(tracks)), genres)):
        subset = np.full(len(tracks), "train", dtype=object)
        subset[test] = "test"
        frames.append(_frame(fold, tracks, genres, subset))
    return pd.concat(frames, ignore_index=True)


def lists_split(
    tracks: Sequence[str], genres: Sequence[str], list_files: dict[str, str | os.PathLike]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Train/valid/test membership read from list files (one fold).

    Each list holds one entry per line, such as ``blues/blues.00029.wav``; the
    track id is the file name without extension. Tracks named in no list are
    left out. Listed tracks absent from the dataset are counted, not fatal.

    Returns
    -------
    split, missing
        The split table and, per subset, how many listed tracks were absent.
    """
    tracks, genres = _check_tracks(tracks, genres)
    genre_of = dict(zip(tracks, genres, strict=True))
    rows, missing = [], {}
    for subset, list_file in list_files.items():
        if subset not in SUBSETS:
            raise ValueError(f"split.lists has unknown subset {subset!r} (known: {SUBSETS})")
        list_file = Path(list_file)
        if not list_file.is_file():
            raise FileNotFoundError(f"split.lists.{subset}: list file {list_file} does not exist")
        listed = [
            Path(line.strip()).stem for line in list_file.read_text().splitlines() if line.strip()
        ]
        missing[subset] = sum(track not in genre_of for track in listed)
        rows += [(0, t, genre_of[t], subset) for t in listed if t in genre_of]
    split = pd.DataFrame(rows, columns=["fold", "track", "genre", "subset"])
    duplicated = split["track"][split["track"].duplicated()]
    if len(duplicated):
        raise ValueError(f"tracks listed in more than one subset: {', '.join(duplicated[:5])}")
    return split, missing


def check_split(split: pd.DataFrame) -> None:
    """Raise if any fold puts one track in two subsets or lacks train or test rows."""
    for fold, rows in split.groupby("fold"):
        if rows["track"].duplicated().any():
            raise ValueError(f"fold {fold} lists a track twice")
        for needed in ("train", "test"):
            if not (rows["subset"] == needed).any():
                raise ValueError(f"fold {fold} has no {needed} tracks")


def _check_tracks(tracks, genres) -> tuple[np.ndarray, np.ndarray]:
    tracks, genres = np.asarray(tracks, dtype=object), np.asarray(genres, dtype=object)
    if len(tracks) != len(genres):
        raise ValueError(f"{len(tracks)} tracks but {len(genres)} genres")
    if len(set(tracks)) != len(tracks):
        raise ValueError("track ids are not unique")
    return tracks, genres


def _frame(fold: int, tracks, genres, subset) -> pd.DataFrame:
    return pd.DataFrame({"fold": fold, "track": tracks, "genre": genres, "subset": subset})
