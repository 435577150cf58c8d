"""Screen a window-CNN variant on one repeat of 10-fold cross-validation, in one process.

A quick comparison of CNN settings before a full ``benchmark_accuracy.py`` run (which
trains every fold through the workflow). For every fold of one repeat (``--repeat``,
default 0) of the benchmark's split (stratified 10-fold, seed 42: repeat ``r`` holds the
same test tracks as folds ``10 r`` to ``10 r + 9`` of its table; ``--split-seed`` screens
on other folds, so that settings chosen on them are measured by the table on folds they
were not chosen on) it trains the window CNN
of ``config/config.yaml``'s ``cnn_logmel``, with ``--params`` overriding its settings, on
one thread with the workflow's own ``fit_and_predict``. It prints the CNN's test accuracy
beside two heads on its window embeddings: an RBF SVM (``C=1``) and per-genre GMMs (2
diagonal components), both voting over windows as ``cnn_svm`` and ``cnn_gmm`` do.

Run from the project root::

    .venv/bin/python tools/screen_cnn.py ../shared/data/gtzan_mini/genres \\
        --params '{"kernel_size": 1, "filters": [128, 128]}' --input mfcc --n-fft 2048 \\
        --n-mels 128 --embedding global_pool

``--input mfcc`` feeds the network MFCC and their deltas instead of log-mel bands: the
DCT-II of the log-mel in dB (as ``librosa.feature.mfcc``), first ``--n-mfcc``
coefficients, and ``librosa.feature.delta`` of them. ``--input frames`` feeds it the 65
frame features whose window statistics ``segment_stats`` stores (20 MFCC and deltas,
spectral shape, zero crossings, RMS, contrast and chroma, 2048-sample FFT). With either,
gain and frequency masks are turned off (a dB offset moves only the first coefficient,
and masking cepstral rows means nothing), unless ``--params`` sets them.
``--untrained`` stops after one epoch at a learning rate of 1e-7: the network's initial
weights, a control for what training adds to the heads. ``--save-proba FILE.npz`` keeps
every model's test probabilities, which ``tools/vote_screens.py`` soft-votes across screens.
One thread and fixed seeds: a rerun on the same machine prints the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from workflow_command import PROJECT_ROOT

N_SPLITS, SPLIT_SEED, MODEL_SEED = 10, 42, 42
HEADS = {
    "svm": {"kernel": "rbf", "C": 1.0, "gamma": "scale"},
    "gmm": {"n_components": 2, "covariance_type": "diag", "reg_covar": 1e-3},
}


def cepstra(logmel_db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """MFCC and deltas of log-mel tracks ``(n, n_mels, frames)`` -> ``(n, 2 * n_mfcc, frames)``.

    The workflow's ``mfcc`` feature set computes the same from each track's audio.
    """
    from genrepipe.features import cepstra as cepstra_of_logmel

    if not 1 <= n_mfcc <= logmel_db.shape[1]:
        raise ValueError(f"--n-mfcc must be in [1, {logmel_db.shape[1]}], got {n_mfcc}")
    return cepstra_of_logmel(logmel_db, n_mfcc, delta_width=9)


def read_config() -> dict:
    """The project's ``config/config.yaml``: the settings the workflow runs by default."""
    return yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))


def network_params(config: dict, overrides: dict, *, input_kind: str, untrained: bool) -> dict:
    """``cnn_logmel``'s configured settings, updated for the input and by ``overrides``."""
    params = dict(config["models"]["cnn_logmel"]["params"])
    if input_kind in ("mfcc", "frames"):
        params.update(gain_db=0.0, freq_masks=0)
    params.update(overrides)
    if untrained:
        params.update(epochs=1, learning_rate=1e-7, patience=1, lr_patience=0)
    return params


def stats_frames(y: np.ndarray, sr: int, *, hop_length: int, n_frames: int) -> np.ndarray:
    """The frame features ``segment_stats`` summarizes, cropped or zero-padded to ``n_frames``."""
    from genrepipe.features import _fit_frames, _stats_frames

    frames, _ = _stats_frames(y, sr, n_fft=2048, hop_length=hop_length, n_mfcc=20)
    return _fit_frames(frames, n_frames).astype(np.float32)


def load_tracks(
    dataset: Path, config: dict, *, n_fft: int, n_mels: int, frames: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every clip's track id, genre and log-mel in dB (or, with ``frames``, its
    :func:`stats_frames`), sorted by track id."""
    from genrepipe import jit_cache
    from genrepipe.audio import AudioError, load_audio
    from genrepipe.dataset import discover_tracks
    from genrepipe.features import logmel

    # Calling librosa outside extract(): fill its numba cache under the workflow's
    # lock, or a workflow starting beside this screen may read half-written files.
    jit_cache.ensure_filled()
    sr = config["audio"]["sample_rate"]
    settings = config["features"].get("logmel") or {}
    found = sorted(discover_tracks(dataset).tracks, key=lambda t: t.track)
    if not found:
        raise SystemExit(f"no GTZAN clips under {dataset}")
    mels, kept = [], []
    for i, track in enumerate(found, start=1):
        try:  # the clips the workflow leaves out (results/failed_tracks.tsv), left out here too
            y = load_audio(
                track.path,
                sr=sr,
                min_duration=config["dataset"]["min_duration"],
                max_duration=config["dataset"]["max_duration"],
            )
        except AudioError as error:
            print(f"left out: {error}", file=sys.stderr, flush=True)
            continue
        kept.append(track)
        if frames:
            mels.append(
                stats_frames(
                    y, sr, hop_length=settings["hop_length"], n_frames=settings["n_frames"]
                )
            )
        else:
            mels.append(
                logmel(
                    y,
                    sr,
                    n_fft=n_fft,
                    n_mels=n_mels,
                    hop_length=settings["hop_length"],
                    n_frames=settings["n_frames"],
                )
            )
        if i % 25 == 0 or i == len(found):
            print(f"features of {i}/{len(found)} clips", file=sys.stderr, flush=True)
    if not kept:
        raise SystemExit(f"no clip under {dataset} could be read")
    return (
        [t.track for t in kept],
        np.array([t.genre for t in kept], dtype=object),
        np.stack(mels),
    )


def fold_test_masks(
    tracks: list[str], genres: np.ndarray, repeat: int, split_seed: int = SPLIT_SEED
) -> list[np.ndarray]:
    """The test tracks of each fold of one repeat of the benchmark's split (the one
    ``benchmark_accuracy.py --seed split_seed`` makes), as masks."""
    from genrepipe.splits import kfold_split

    # The first repeats of a repeated k-fold do not depend on how many follow.
    split = kfold_split(tracks, genres, n_splits=N_SPLITS, n_repeats=repeat + 1, seed=split_seed)
    return [
        (split.loc[split["fold"] == repeat * N_SPLITS + k, "subset"] == "test").to_numpy()
        for k in range(N_SPLITS)
    ]


def screen(
    X: np.ndarray,
    tracks: list[str],
    genres: np.ndarray,
    params: dict,
    *,
    folds: list[int],
    embeddings: Sequence[str | None] = (None,),
    repeat: int = 0,
    split_seed: int = SPLIT_SEED,
    seeds: tuple[int, ...] = (MODEL_SEED,),
    proba: dict[str, np.ndarray] | None = None,
) -> dict[str, list[float]]:
    """Per-fold test accuracy of the CNN and of its SVM and GMM heads.

    ``folds`` number the folds within ``repeat``, 0 to 9. The heads read each layer
    of ``embeddings`` (None: the penultimate), keyed ``svm`` and ``gmm`` for the
    first and ``svm@<layer>`` and ``gmm@<layer>`` for the others. With several ``seeds``
    each model's track probabilities are averaged over one network per seed (the
    heads each on their own network's embeddings), and ``cnn_first``, ``svm_first``
    and ``gmm_first`` hold the first seed's accuracies alone. A ``proba`` dict receives,
    per model (averaged over the seeds), its test probabilities: ``(n_tracks, n_classes)``
    in the classes' sorted order, NaN on the rows of tracks no screened fold tests.
    """
    from genrepipe.preprocess import RowStandardizer
    from genrepipe.segments import vote
    from genrepipe.tasks import fit_and_predict
    from genrepipe.windows import fit_embedding_head

    spec = {"estimator": "cnn_windows", "features": "logmel", "input": "image", "params": params}

    def head_name(head: str, k: int, layer: str | None) -> str:
        return head if k == 0 else f"{head}@{layer or 'penultimate'}"

    names = (
        "cnn",
        *(head_name(head, k, layer) for k, layer in enumerate(embeddings) for head in HEADS),
    )
    scores: dict[str, list[float]] = {name: [] for name in names}
    if len(seeds) > 1:
        scores.update({f"{name}_first": [] for name in names})
    masks = fold_test_masks(tracks, genres, repeat, split_seed)
    for fold in folds:
        started = time.perf_counter()
        test = masks[fold]
        train = ~test
        truth = genres[test]
        per_seed: dict[str, list[np.ndarray]] = {name: [] for name in names}
        epochs = []
        for seed in seeds:
            cnn, standardizer, track_proba, _ = fit_and_predict(
                spec, X, genres, train, seed=seed, threads=1
            )
            assert isinstance(standardizer, RowStandardizer)
            classes = np.asarray(cnn.classes_)
            epochs.append(getattr(cnn, "best_epoch_", None))
            per_seed["cnn"].append(track_proba[test])
            Xs = standardizer.transform(X)
            for k, layer in enumerate(embeddings):
                train_emb, train_index = cnn.window_embeddings(Xs[train], layer=layer)
                test_emb, test_index = cnn.window_embeddings(Xs[test], layer=layer)
                for head, head_params in HEADS.items():
                    # As the workflow's heads: calibration folds keep a track's windows.
                    model = fit_embedding_head(
                        head,
                        head_params,
                        train_emb,
                        genres[train][train_index],
                        train_index,
                        random_state=seed,
                    )
                    assert np.array_equal(np.asarray(model.classes_), classes)
                    per_seed[head_name(head, k, layer)].append(
                        vote(
                            model.predict_proba(test_emb),
                            test_index,
                            int(test.sum()),
                            "mean_log_proba",
                        )
                    )
        for name in names:
            averaged = np.mean(per_seed[name], axis=0)
            scores[name].append(float((classes[averaged.argmax(1)] == truth).mean()))
            if proba is not None:
                proba.setdefault(name, np.full((len(tracks), len(classes)), np.nan))[test] = (
                    averaged
                )
            if len(seeds) > 1:
                first = per_seed[name][0]
                scores[f"{name}_first"].append(float((classes[first.argmax(1)] == truth).mean()))
        print(
            f"fold {fold}: "
            + "  ".join(f"{name} {values[-1]:.2f}" for name, values in scores.items())
            + f"  (best epochs {epochs}, {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return scores


def save_proba(
    path: Path,
    tracks: list[str],
    genres: np.ndarray,
    repeat: int,
    folds: list[int],
    proba: dict[str, np.ndarray],
    split_seed: int = SPLIT_SEED,
) -> None:
    """Write a screen's test probabilities, with the tracks and the fold testing each.

    ``fold`` holds, per track, the fold of ``repeat`` that tests it, or -1 when no
    screened fold does. Written under a temporary name, then renamed.
    """
    fold = np.full(len(tracks), -1)
    for k, mask in enumerate(fold_test_masks(tracks, genres, repeat, split_seed)):
        if k in folds:
            fold[mask] = k
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(
        partial,
        tracks=np.asarray(tracks, dtype=str),
        genres=np.asarray(genres, dtype=str),
        classes=np.unique(np.asarray(genres, dtype=str)),
        repeat=repeat,
        fold=fold,
        **{f"proba_{name}": values for name, values in proba.items()},
    )
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path, help="GTZAN-style folder (genres/<genre>/...)")
    parser.add_argument("--params", default="{}", help="JSON object over cnn_logmel's params")
    parser.add_argument("--input", choices=["logmel", "mfcc", "frames"], default="logmel")
    parser.add_argument("--n-fft", type=int, help="log-mel FFT size (default: the config's)")
    parser.add_argument("--n-mels", type=int, help="log-mel bands (default: the config's)")
    parser.add_argument("--n-mfcc", type=int, default=20, help="MFCC with --input mfcc")
    parser.add_argument(
        "--embedding",
        default="penultimate",
        help="layers the heads read, comma-separated: penultimate, global_pool (the layers "
        "the workflow's cnn_svm and cnn_gmm can read), e.g. penultimate,global_pool",
    )
    parser.add_argument("--untrained", action="store_true", help="heads on initial weights")
    parser.add_argument("--repeat", type=int, default=0, help="repeat of the 10-fold split")
    parser.add_argument("--folds", default="0-9", help="folds of the repeat, e.g. 0-9 or 0,3")
    parser.add_argument(
        "--split-seed",
        type=int,
        default=SPLIT_SEED,
        help=f"seed of the 10-fold split ({SPLIT_SEED}, the benchmark's default): another "
        "screens on folds whose accuracies the benchmark's table does not report",
    )
    parser.add_argument(
        "--seeds",
        default=str(MODEL_SEED),
        help="network seeds, e.g. 42,43,44: probabilities averaged over one network each",
    )
    parser.add_argument(
        "--save-proba",
        type=Path,
        help="write every model's test probabilities to this .npz, for tools/vote_screens.py",
    )
    args = parser.parse_args(argv)

    if not args.dataset.is_dir():
        parser.error(f"{args.dataset} is not a folder")
    try:
        overrides = json.loads(args.params)
    except json.JSONDecodeError as error:
        parser.error(f"--params is not JSON: {error}")
    if not isinstance(overrides, dict):
        parser.error("--params must be a JSON object")
    try:
        if "-" in args.folds:
            first, last = (int(v) for v in args.folds.split("-"))
            folds = list(range(first, last + 1))
        else:
            folds = [int(v) for v in args.folds.split(",")]
    except ValueError:
        parser.error(
            f"--folds must be a range such as 0-9 or a list such as 0,3, got {args.folds!r}"
        )
    if not folds or min(folds) < 0 or max(folds) >= N_SPLITS:
        parser.error(f"--folds must name folds in 0-{N_SPLITS - 1}, got {args.folds!r}")
    if len(set(folds)) != len(folds):  # a fold twice weighed twice in the mean
        parser.error(f"--folds must not repeat a fold, got {args.folds!r}")
    if args.save_proba and args.save_proba.is_dir():  # else a traceback after the screen
        parser.error(f"--save-proba {args.save_proba}: a folder; name the .npz file to write")
    try:
        seeds = tuple(int(v) for v in args.seeds.split(","))
    except ValueError:
        parser.error(f"--seeds must be integers separated by commas, got {args.seeds!r}")
    if len(set(seeds)) != len(seeds):
        parser.error("--seeds must not repeat a seed")
    if args.repeat < 0:
        parser.error("--repeat must be >= 0")
    if args.input == "frames" and (args.n_fft is not None or args.n_mels is not None):
        parser.error("--n-fft and --n-mels set the log-mel; --input frames has its own")

    from genrepipe.estimators import EMBEDDING_LAYERS

    if unknown := [v for v in args.embedding.split(",") if v not in EMBEDDING_LAYERS]:
        parser.error(f"--embedding {unknown[0]}: one of {', '.join(EMBEDDING_LAYERS)}")
    embeddings = [None if v == "penultimate" else v for v in args.embedding.split(",")]
    if len(set(embeddings)) != len(embeddings):
        parser.error("--embedding names a layer twice")
    config = read_config()
    from genrepipe.config import (
        ConfigError,
        check_estimator_params,
        feature_settings,
        split_size_error,
    )
    from genrepipe.dataset import discover_tracks
    from genrepipe.models import allowed_params

    logmel_settings = feature_settings(config, "logmel")
    n_fft = logmel_settings["n_fft"] if args.n_fft is None else args.n_fft
    n_mels = logmel_settings["n_mels"] if args.n_mels is None else args.n_mels
    if n_fft < 1 or n_mels < 1:
        parser.error(f"--n-fft and --n-mels must be positive, got {n_fft} and {n_mels}")
    if args.input == "mfcc" and not 1 <= args.n_mfcc <= n_mels:
        parser.error(f"--n-mfcc must be in [1, {n_mels}] (the log-mel bands), got {args.n_mfcc}")
    params = network_params(config, overrides, input_kind=args.input, untrained=args.untrained)
    if unknown := sorted(set(params) - allowed_params("cnn_windows")):
        parser.error(f"--params: unknown parameter(s) {', '.join(unknown)} of cnn_windows")
    try:  # values too, as the workflow checks a config's: they failed after every clip loaded
        check_estimator_params("cnn_windows", params, key="--params")
    except ConfigError as error:
        parser.error(str(error))
    # Before the minutes of reading every clip: what would stop the screen after them.
    try:
        found = discover_tracks(args.dataset).tracks
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    from genrepipe.audio import check_readable

    try:  # the workflow's audio check stops on such a clip; here, before minutes of loading
        for track in found:
            check_readable(track.path)
    except OSError as error:
        parser.error(str(error))
    if problem := split_size_error("kfold", {"n_splits": N_SPLITS}, [t.genre for t in found]):
        parser.error(f"{args.dataset}: too few clips for its {N_SPLITS} folds: {problem}")
    source = (
        "segment_stats' frame features"
        if args.input == "frames"
        else f"{n_fft}-sample FFT, {n_mels} bands"
    )
    print(f"input {args.input} ({source}), network {json.dumps(params)}")
    tracks, genres, X = load_tracks(
        args.dataset, config, n_fft=n_fft, n_mels=n_mels, frames=args.input == "frames"
    )
    if args.input == "mfcc":
        X = cepstra(X, args.n_mfcc)
    proba: dict[str, np.ndarray] = {}
    scores = screen(
        X,
        tracks,
        genres,
        params,
        folds=folds,
        embeddings=embeddings,
        repeat=args.repeat,
        split_seed=args.split_seed,
        seeds=seeds,
        proba=proba,
    )
    if args.save_proba:
        save_proba(args.save_proba, tracks, genres, args.repeat, folds, proba, args.split_seed)
    averaged = f", averaged over seeds {args.seeds}" if len(seeds) > 1 else ""
    layers = args.embedding.split(",")
    heads = "  ".join(
        f"{head} head ({layer}) {np.mean(scores[head if k == 0 else f'{head}@{layer}']):.3f}"
        for k, layer in enumerate(layers)
        for head in HEADS
    )
    print(
        f"mean over {len(folds)} folds of repeat {args.repeat}{averaged}: "
        f"cnn {np.mean(scores['cnn']):.3f}  {heads}"
    )
    if len(seeds) > 1:
        print(
            f"the first seed alone: cnn {np.mean(scores['cnn_first']):.3f}  "
            f"svm head {np.mean(scores['svm_first']):.3f}  "
            f"gmm head {np.mean(scores['gmm_first']):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
