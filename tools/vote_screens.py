"""Soft-vote the test probabilities of several CNN screens, fold by fold.

A preview of an ``ensemble`` entry before a full ``benchmark_accuracy.py`` run: the
workflow's ensemble averages its members' probabilities of the same fold with equal
weights, and so does this, on the files ``tools/screen_cnn.py --save-proba`` writes.
Every member names a file and a model in it (``cnn``, ``svm``, ``gmm``, or a head on
another layer such as ``svm@global_pool``); all must come from the same repeat and
folds. Run from the project root::

    .venv/bin/python tools/vote_screens.py benchmarks/screens/logmel_r1.npz:cnn \\
        benchmarks/screens/mfcc_r1.npz:cnn

It prints each member's accuracy and the vote's, per fold and over the folds.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

# What screen_cnn.save_proba writes beside each model's probabilities.
META_KEYS = ("tracks", "genres", "classes", "repeat", "fold")


def load_member(entry: str) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    """``FILE:MODEL`` -> its name, the file's tracks, genres, classes, repeat and folds,
    and the model's probabilities."""
    path, sep, model = entry.rpartition(":")
    if not sep or not path or not model:
        raise ValueError(f"a member is FILE:MODEL, got {entry!r}")
    try:
        saved = np.load(path)
        # A .npy holds one array and a pickle is refused: neither is a screen's .npz.
        if not isinstance(saved, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with saved:
            arrays = {key: saved[key] for key in saved.files}
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a probability file of screen_cnn.py: {error}") from None
    if missing := [key for key in META_KEYS if key not in arrays]:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not written by screen_cnn.py")
    key = f"proba_{model}"
    if key not in arrays:
        models = sorted(k.removeprefix("proba_") for k in arrays if k.startswith("proba_"))
        raise ValueError(f"{path} holds no model {model!r}; it holds {', '.join(models)}")
    return entry, {k: arrays[k] for k in META_KEYS}, arrays[key]


def soft_vote(entries: list[str]) -> dict[str, list[float]]:
    """Per-fold accuracy of every member and of their equal-weight mean (``vote``)."""
    members = [load_member(entry) for entry in entries]
    first_name, meta, _ = members[0]
    for name, other, _ in members[1:]:
        for key, values in meta.items():
            if not np.array_equal(values, other[key]):
                raise ValueError(f"{name} and {first_name} differ in their {key}")
    folds = sorted(set(meta["fold"].tolist()) - {-1})
    if not folds:
        raise ValueError(f"{first_name} tests no track")
    vote = np.mean([proba for _, _, proba in members], axis=0)
    scores: dict[str, list[float]] = {name: [] for name, _, _ in members}
    scores["vote"] = []
    for k in folds:
        test = meta["fold"] == k
        truth = meta["genres"][test]
        for name, proba in [*((n, p) for n, _, p in members), ("vote", vote)]:
            predicted = meta["classes"][proba[test].argmax(axis=1)]
            scores[name].append(float((predicted == truth).mean()))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("members", nargs="+", help="FILE:MODEL, at least two")
    args = parser.parse_args(argv)
    if len(args.members) < 2:
        parser.error("a vote needs at least two members")
    # Scores are kept by member: a repeated one merged into one row of twice the folds.
    # The same file however written (./a.npz, a.npz).
    members = [(Path(m.rpartition(":")[0]).resolve(), m.rpartition(":")[2]) for m in args.members]
    repeated = sorted(
        {m for m, key in zip(args.members, members, strict=True) if members.count(key) > 1}
    )
    if repeated:
        parser.error(f"{', '.join(repeated)} given twice: a member votes once")
    try:
        scores = soft_vote(args.members)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    width = max(len(name) for name in scores)
    n_folds = len(scores["vote"])
    for name, values in scores.items():
        per_fold = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<{width}}  {np.mean(values):.3f} over {n_folds} folds  ({per_fold})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
