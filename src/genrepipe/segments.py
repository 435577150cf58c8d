"""Segment mode: train on fixed-length windows of tracks, predict a track by voting.

A segmented feature set stores per track an array of shape ``(n_windows, ...)``.
Its windows become rows for training, each tagged with its track; splits are
made on tracks before windows are expanded, so a track's windows never sit on
both sides of a split. A track's prediction combines its windows' probabilities.
"""

from __future__ import annotations

import numpy as np

#: How window probabilities become a track's: mean log-probability or majority vote.
VOTES = ("mean_log_proba", "majority")


def expand_windows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows of every track as rows, and the index of each row's track.

    Parameters
    ----------
    X
        Array of shape ``(n_tracks, n_windows, *window_shape)``.

    Returns
    -------
    windows, track_index
        ``windows`` has shape ``(n_tracks * n_windows, *window_shape)``; row
        ``i`` belongs to track ``track_index[i]``.
    """
    X = np.asarray(X)
    if X.ndim < 3:
        raise ValueError(f"segmented features need shape (tracks, windows, ...), got {X.shape}")
    n_tracks, n_windows = X.shape[:2]
    return X.reshape(n_tracks * n_windows, *X.shape[2:]), np.repeat(np.arange(n_tracks), n_windows)


def vote(proba: np.ndarray, track_index: np.ndarray, n_tracks: int, method: str) -> np.ndarray:
    """Combine window probabilities into one row of probabilities per track.

    Parameters
    ----------
    proba
        ``(n_rows, n_classes)`` window probabilities.
    track_index
        Track of each row, in ``range(n_tracks)``.
    n_tracks
        Number of tracks: rows of the result.
    method
        ``mean_log_proba``: softmax of the mean log-probability (the product of
        window likelihoods, as independent evidence, each floored at 1e-12 so that
        no one window vetoes a class); ``majority``: the share of
        windows voting for each class (ties go to the first class).
    """
    if method not in VOTES:
        raise ValueError(f"unknown vote {method!r} (known: {', '.join(VOTES)})")
    proba = np.asarray(proba, dtype=np.float64)
    counts = np.bincount(track_index, minlength=n_tracks)
    if (counts == 0).any():
        raise ValueError(f"tracks without windows: {np.flatnonzero(counts == 0)[:5].tolist()}")
    out = np.zeros((n_tracks, proba.shape[1]))
    if method == "mean_log_proba":
        np.add.at(out, track_index, np.log(np.clip(proba, 1e-12, 1.0)))
        out /= counts[:, None]
        out = np.exp(out - out.max(axis=1, keepdims=True))
    else:
        np.add.at(out, (track_index, proba.argmax(axis=1)), 1.0)
    return out / out.sum(axis=1, keepdims=True)
