"""The work of each workflow step: read inputs, call the compute functions, write outputs.

One function per rule (extraction's is in :mod:`genrepipe.extraction`, plot_results'
in :mod:`genrepipe.plots` and record_run's in :mod:`genrepipe.history`). The rule
scripts in ``workflow/scripts`` only pass Snakemake's inputs, outputs and params
to these; the computations themselves live in the other modules as functions of
arrays, testable without files.
Every output is written atomically, so a killed job never leaves a file that
looks complete.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genrepipe import GENRES
from genrepipe.audio import AudioError, load_audio
from genrepipe.estimators import SINGLE_THREADED_ESTIMATORS, TENSORFLOW_ESTIMATORS
from genrepipe.io import atomic_path, load_npy, read_json, staged_folder
from genrepipe.log import Progress

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

logger = logging.getLogger("genrepipe")


class DataError(ValueError):
    """The tracks a job was given cannot make its output (every clip failed the audio
    check): the message says why, so the job's log gives it without a traceback."""


def write_table(frame: pd.DataFrame, path: str | Path, **kwargs) -> None:
    """Write a tab-separated table atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, lineterminator="\n", **kwargs)


#: Columns of names, read as text: a track "001" or a genre folder "07" is not a number.
_TEXT_COLUMNS = ("track", "genre", "predicted", "subset", "path", "status", "reason")


#: Numbers of the summary and per-genre tables: ten significant digits, never rounded
#: to a few decimals, since the figures and comparisons read them and round them (once):
#: 6 of 11 written as 0.5455 read 0.546 there, beside 0.545 from the metrics.
_FLOAT_FORMAT = "%.10g"


def read_table(
    path: str | Path, *, sep: str = "\t", text: Sequence[str] = _TEXT_COLUMNS
) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (``sep=","``: a CSV of the workflow's).

    Names stay text, those of the columns ``text``: a genre folder or model named ``07``
    or ``NA`` is not the number 7 or a missing value; only empty cells are missing.
    """
    return pd.read_csv(
        path, sep=sep, keep_default_na=False, na_values=[""], dtype=dict.fromkeys(text, str)
    )


def read_summary(path: str | Path) -> pd.DataFrame:
    """``results/summary.csv``, its model names as text."""
    return read_table(path, sep=",", text=("model", "dataset", "split", "feature_set"))


def read_per_genre(path: str | Path) -> pd.DataFrame:
    """A model's ``<scheme>_per_genre.csv``, its genres as text (``predicted`` is a count)."""
    return read_table(path, sep=",", text=("genre",))


# -- dataset -------------------------------------------------------------------------------------


def generate_synthetic(
    paths: Sequence[str],
    genres: Sequence[str],
    indices: Sequence[int],
    *,
    duration: float,
    seed: int,
    sr: int,
) -> None:
    """Write the synthetic clips of one batch."""
    from genrepipe.synthetic import write_clip

    progress = Progress(len(paths), "synthetic clips", logger)
    for path, genre, index in zip(paths, genres, indices, strict=True):
        write_clip(path, genre, index, seed=seed, duration=duration, sr=sr)
        progress.step()


def check_audio(
    paths: Sequence[str],
    tracks: Sequence[str],
    genres: Sequence[str],
    output: str | Path,
    *,
    sr: int,
    min_duration: float,
    max_duration: float,
    min_samples: int = 0,
) -> pd.DataFrame:
    """Decode every clip of a batch; write a table of ``status`` (ok/failed) with reasons.

    ``min_samples`` (the longest analysis window, ``n_fft``, of the extracted
    feature sets) leaves out clips too short for any feature, whatever
    ``min_duration`` says.
    """
    rows = []
    for path, track, genre in zip(paths, tracks, genres, strict=True):
        try:
            y = load_audio(path, sr=sr, min_duration=min_duration, max_duration=max_duration)
            if y.size < min_samples:
                raise AudioError(
                    f"{path}: clip of {y.size} samples is shorter than one analysis window "
                    f"(n_fft={min_samples})"
                )
            rows.append((track, genre, path, round(y.size / sr, 3), "ok", ""))
        except AudioError as error:
            logger.warning("left out %s: %s", track, error)
            rows.append((track, genre, path, math.nan, "failed", str(error)))
    table = pd.DataFrame(rows, columns=["track", "genre", "path", "duration", "status", "reason"])
    write_table(table, output)
    logger.info("%d of %d clips usable", (table["status"] == "ok").sum(), len(table))
    return table


def _batch_checks(batch_tables: Sequence[str]) -> pd.DataFrame:
    """The batch checks of check_audio as one table, by track."""
    table = pd.concat([read_table(path) for path in batch_tables], ignore_index=True)
    return table.sort_values("track", kind="stable")


def list_tracks(batch_tables: Sequence[str], tracks_out: str | Path) -> None:
    """Join the batch checks into the table of usable tracks."""
    table = _batch_checks(batch_tables)
    ok = table[table["status"] == "ok"]
    if ok.empty:  # say why here, before the split and the merges fail on nothing
        first = table.iloc[0]
        raise DataError(
            f"no usable track: all {len(table)} clips failed the audio check, "
            f"e.g. {first['track']}: {first['reason']}"
        )
    write_table(ok[["track", "genre", "path", "duration"]], tracks_out)
    logger.info("%d tracks usable, %d failed the audio check", len(ok), len(table) - len(ok))


def list_failed_tracks(
    batch_tables: Sequence[str], skipped: Sequence[Sequence[str]], failed_out: str | Path
) -> None:
    """The clips that failed the audio check, and the files and folders the dataset
    scan left out (``skipped``: ``(path, reason)``, e.g. not audio, unknown genre),
    with their reasons."""
    table = _batch_checks(batch_tables)
    failed = table[table["status"] != "ok"][["track", "genre", "path", "reason"]]
    scan = pd.DataFrame(
        [("", "", path, reason) for path, reason in skipped],
        columns=["track", "genre", "path", "reason"],
    )
    write_table(pd.concat([failed, scan], ignore_index=True), failed_out)
    logger.info("%d clips failed, %d files or folders skipped", len(failed), len(scan))


def download_dataset(url: str, md5: str, destination: str | Path, record_out: str | Path) -> None:
    """Download the GTZAN archive, verify its checksum and unpack its ``genres`` folder
    to ``destination``; ``record_out`` says what was unpacked from where.

    A folder already at ``destination`` is kept and nothing is downloaded: a copy put
    there by hand, one downloaded before the rule recorded its downloads, or one whose
    clips were moved to relabel them (unpacked again, new file times would re-extract
    every clip). Deleting it, and the record inside it, downloads again.
    """
    from genrepipe.config import holds_unhidden_files
    from genrepipe.download import download_and_unpack

    folder = Path(destination)
    downloaded = not holds_unhidden_files(folder)  # Snakemake makes it, empty, for the record
    if downloaded:
        download_and_unpack(url, md5, folder)
    else:
        logger.warning(
            "%s is already there: kept, nothing downloaded (delete it to fetch %s)", folder, url
        )
    record = {
        "url": url,
        "md5": md5,
        "folder": str(folder),
        "downloaded": downloaded,
        "files": sum(1 for path in folder.rglob("[!.]*") if path.is_file()),  # not hidden
    }
    with atomic_path(record_out) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# -- features ------------------------------------------------------------------------------------


def merge_features(
    feature_set: str,
    settings: Mapping[str, Any],
    paths: Sequence[str],
    tracks: Sequence[str],
    genres: Sequence[str],
    table_out: str | Path,
    failed_out: str | Path,
    reports: Sequence[str] = (),
    usable_tracks: str | Path | None = None,
) -> None:
    """Stream the per-track files of one feature set into one parquet table.

    Tracks whose features failed (an empty array) or are not finite are left
    out and listed in ``failed_out`` with the reason from the batch ``reports``.
    With ``usable_tracks`` (the tracks table of the audio check), tracks absent
    from it (too short, say) are left out too, unread: ``failed_tracks.tsv``
    already lists them.
    """
    from genrepipe.feature_table import write_feature_table
    from genrepipe.features import feature_names

    if usable_tracks is not None:
        usable = set(read_table(usable_tracks)["track"])
        kept = [i for i, track in enumerate(tracks) if track in usable]
        paths, tracks, genres = ([items[i] for i in kept] for items in (paths, tracks, genres))
    failed = []
    reasons = {}
    for report in reports:
        # Read as text: a batch without failures has an all-empty reason column.
        batch = pd.read_csv(report, sep="\t", dtype=str, keep_default_na=False)
        reasons |= dict(zip(batch["track"], batch["reason"], strict=True))

    def rows():
        progress = Progress(len(paths), f"merging {feature_set}", logger)
        for path, track, genre in zip(paths, tracks, genres, strict=True):
            array = load_npy(path)
            progress.step()
            if array.size == 0:
                reason = reasons.get(track) or f"{path}: {feature_set} features could not be made"
                failed.append((track, genre, reason))
                continue
            if not np.isfinite(array).all():  # never let NaN or inf reach a model
                failed.append((track, genre, f"{path}: {feature_set} features are not finite"))
                continue
            yield track, genre, array

    try:
        n = write_feature_table(
            table_out,
            rows(),
            feature_set=feature_set,
            feature_names=feature_names(feature_set, settings),
        )
    except ValueError:
        if failed and len(failed) == len(paths):  # say why, not only that nothing is left
            raise DataError(
                f"no track has {feature_set} features: all {len(failed)} failed, "
                f"e.g. {failed[0][0]}: {failed[0][2]}"
            ) from None
        raise
    write_table(pd.DataFrame(failed, columns=["track", "genre", "reason"]), failed_out)
    logger.info("merged %d tracks of %s (%d failed)", n, feature_set, len(failed))


# -- split ---------------------------------------------------------------------------------------


def make_split(
    scheme: str,
    settings: Mapping[str, Any],
    tracks_table: str | Path,
    output: str | Path,
    report: str | Path,
) -> pd.DataFrame:
    """Split the usable tracks by the configured scheme.

    ``report`` (JSON) counts tracks per fold and subset and, for list files,
    the listed tracks absent from the dataset (or whose clip failed the audio check)
    and names the usable tracks in no
    list (a filtered split such as Kereliuk et al.'s leaves out faulty clips).
    """
    from genrepipe import splits

    table = read_table(tracks_table)
    tracks, genres = table["track"].to_numpy(), table["genre"].to_numpy()
    missing: dict[str, int] = {}
    unlisted: list[str] = []
    if scheme == "holdout":
        split = splits.holdout_split(tracks, genres, **settings)
    elif scheme == "kfold":
        split = splits.kfold_split(tracks, genres, **settings)
    elif scheme == "lists":
        # The usable tracks: clips that failed the audio check are not among them.
        split, missing = splits.lists_split(
            tracks,
            genres,
            settings,
            pool=str(tracks_table),
            pool_note=f": {tracks_table} holds the usable tracks, not the clips that failed "
            "the audio check (see failed_tracks.tsv beside it)",
        )
        for subset, count in missing.items():
            if count:
                logger.warning(
                    "split.lists.%s: %d listed tracks are not usable: not in the dataset, "
                    "or failed the audio check",
                    subset,
                    count,
                )
        unlisted = sorted(set(tracks) - set(split["track"]))
        if unlisted:
            more = f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else ""
            logger.info(
                "split.lists: %d usable tracks are in no list and left out: %s%s",
                len(unlisted),
                ", ".join(unlisted[:5]),
                more,
            )
    else:
        raise ValueError(f"unknown split scheme {scheme!r}")
    splits.check_split(split)
    for fold, untrained in splits.untrained_genres(split).items():
        logger.warning(
            "fold %d: no training track of %s: their test tracks can only be misclassified",
            fold,
            ", ".join(untrained),
        )
    if untested := splits.untested_genres(split):
        logger.warning(
            "split %s: no test track of %s: the test accuracy says nothing of them",
            scheme,
            ", ".join(untested),
        )
    write_table(split, output)
    counts = split.groupby(["fold", "subset"]).size().unstack("subset", fill_value=0)
    logger.info("split %s, tracks per fold:\n%s", scheme, counts.to_string())
    summary = {
        "scheme": scheme,
        "n_folds": int(split["fold"].nunique()),
        "tracks_per_fold": {
            str(f): {k: int(v) for k, v in c.items()} for f, c in counts.iterrows()
        },
        "listed_missing": missing,
        "unlisted": unlisted,
    }
    with atomic_path(report) as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return split


def fold_rows(split_table: str | Path, fold: int, available: Sequence[str]) -> pd.DataFrame:
    """The rows of one fold whose tracks have features; logs the tracks left out."""
    split = read_table(split_table)
    rows = split[split["fold"] == fold]
    if rows.empty:
        raise ValueError(f"{split_table} has no fold {fold}")
    present = rows["track"].isin(set(available))
    if not present.all():
        logger.warning(
            "fold %d: %d tracks have no features and are left out: %s",
            fold,
            (~present).sum(),
            ", ".join(rows.loc[~present, "track"][:10]),
        )
    return rows[present].reset_index(drop=True)


# -- preprocessing and training ------------------------------------------------------------------


def fit_preprocessing(
    features_table: str | Path,
    split_table: str | Path,
    fold: int,
    preprocessing: str,
    transform_out: str | Path,
    features_out: str | Path,
    *,
    pca_components: int | None,
) -> None:
    """Fit standardization (and PCA) on the fold's training rows; transform all its rows.

    For a segmented feature set the rows are windows: fitted on the windows of
    training tracks, and the output keeps one ``(n_windows, n_components)``
    array per track.
    """
    from genrepipe.feature_table import read_feature_index, read_feature_table, write_feature_table
    from genrepipe.models import save_model

    feature_set = Path(features_table).stem
    ids, _ = read_feature_index(features_table)
    rows = fold_rows(split_table, fold, ids)
    _, _, X = read_feature_table(features_table, tracks=list(rows["track"]))
    train = (rows["subset"] == "train").to_numpy()
    transform, Z = fit_transform_features(
        X, train, feature_set, preprocessing, pca_components=pca_components
    )
    save_model(transform, transform_out)
    write_feature_table(
        features_out,
        zip(rows["track"], rows["genre"], Z, strict=True),
        feature_set=f"{feature_set}-{preprocessing}",
    )


def fit_final_preprocessing(
    features_table: str | Path,
    tracks_table: str | Path,
    preprocessing: str,
    transform_out: str | Path,
    features_out: str | Path,
    *,
    pca_components: int | None,
    lists_split_table: str | Path | None = None,
) -> None:
    """Fit standardization (and PCA) on the final models' tracks; transform them.

    :func:`fit_preprocessing` with every track of :func:`final_rows` on the
    training side: the final models reading one feature set and preprocessing
    share it, as the fold models share their fold's (a seed87 PCA on GTZAN's
    1000 tracks: the job takes about 45 s and 2.8 GB on one core).
    """
    from genrepipe.feature_table import read_feature_table, write_feature_table
    from genrepipe.models import save_model

    feature_set = Path(features_table).stem
    rows, which = final_rows(features_table, tracks_table, lists_split_table)
    logger.info("%s-%s fitted on %d tracks (%s)", feature_set, preprocessing, len(rows), which)
    _, _, X = read_feature_table(features_table, tracks=list(rows["track"]))
    transform, Z = fit_transform_features(
        X,
        np.ones(len(rows), dtype=bool),
        feature_set,
        preprocessing,
        pca_components=pca_components,
    )
    save_model(transform, transform_out)
    write_feature_table(
        features_out,
        zip(rows["track"], rows["genre"], Z, strict=True),
        feature_set=f"{feature_set}-{preprocessing}",
    )


def final_rows(
    features_table: str | Path,
    tracks_table: str | Path,
    lists_split_table: str | Path | None = None,
) -> tuple[pd.DataFrame, str]:
    """The ``results/tracks.tsv`` rows a final model trains on, and which they are.

    Every usable track (one with features in ``features_table``); with the
    ``lists`` split's table, only those it names (a filtered split's lists leave
    out faulty or repeated clips, which the final model must not learn from either).
    """
    from genrepipe.feature_table import read_feature_index

    ids, _ = read_feature_index(features_table)
    tracks = read_table(tracks_table)
    rows = tracks[tracks["track"].isin(set(ids))]
    which = "all usable"
    if lists_split_table is not None:
        rows = rows[rows["track"].isin(set(read_table(lists_split_table)["track"]))]
        which = "every listed usable track"
    if rows.empty:
        raise ValueError(f"no track of {tracks_table} has features in {features_table}")
    return rows.reset_index(drop=True), which


def fit_transform_features(
    X: np.ndarray,
    train: np.ndarray,
    feature_set: str,
    preprocessing: str,
    *,
    pca_components: int | None,
) -> tuple[Any, np.ndarray]:
    """Fit standardization (and PCA) on the ``train`` tracks of ``X``; transform every track.

    Parameters
    ----------
    X
        Per-track features as stored, ``(n_tracks, ...)``; for a segmented
        feature set ``(n_tracks, n_windows, ...)``, fitted on the windows.
    train
        Boolean mask of the tracks the transform is fitted on.
    feature_set, preprocessing
        The feature set's name and ``pca`` or ``scaled``.
    pca_components
        Requested PCA components (capped at the training rows less one); only a ``pca``
        input reads them (the workflow passes None for others).

    Returns
    -------
    transform, Z
        The fitted transform and the float32 transformed features:
        ``(n_tracks, n_components)``, or ``(n_tracks, n_windows, n_components)``
        for a segmented set.
    """
    from threadpoolctl import threadpool_limits

    from genrepipe.preprocess import flatten, make_preprocessor
    from genrepipe.segments import expand_windows

    n_tracks = len(X)
    if is_segmented(feature_set):
        n_windows = X.shape[1]
        X, track_index = expand_windows(X)
        X, train = flatten(X), train[track_index]
    else:
        X = flatten(X)
    transform = make_preprocessor(
        preprocessing, int(train.sum()), X.shape[1], pca_components=pca_components
    )
    start = time.perf_counter()
    # One BLAS thread: PCA's trailing components move with the thread count, which
    # Snakemake sets from the cores it grants (1 under --cores 1), and the same config
    # must give the same features. It costs little: 31.2 s against 27.4 s with two
    # threads for 900 x 121800 seed87 rows.
    # X[train] is a fresh copy: the scaler and PCA may scale and centre it in place (a
    # seed87 PCA of 900 tracks peaked 0.8 GB lower, the same bytes out), then copy again,
    # so the transform below and the saved one leave their input as it was.
    copy_flags = {
        key: value for key, value in transform.get_params().items() if key.endswith("copy")
    }
    with threadpool_limits(limits=1):
        transform.set_params(**dict.fromkeys(copy_flags, False))
        try:
            transform.fit(X[train])
        finally:
            transform.set_params(**copy_flags)
        logger.info(
            "fitted %s on %d training rows x %d features in %.1f s",
            preprocessing,
            train.sum(),
            X.shape[1],
            time.perf_counter() - start,
        )
        Z = transform.transform(X).astype(np.float32)
    if is_segmented(feature_set):
        Z = Z.reshape(n_tracks, n_windows, -1)
    return transform, Z


def is_segmented(feature_set: str) -> bool:
    """Whether a feature set stores windows per track (segment mode)."""
    from genrepipe.config import SEGMENT_FEATURE_SETS

    return feature_set in SEGMENT_FEATURE_SETS


def fit_and_predict(
    spec: Mapping[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    base_model: BaseEstimator | None = None,
    base_transform: BaseEstimator | None = None,
    seed: int,
    threads: int,
    fit_threads: int | None = None,
) -> tuple[BaseEstimator, BaseEstimator | None, np.ndarray, dict[str, Any]]:
    """Fit one configured model on the ``train`` rows of ``X``; predict every row.

    Parameters
    ----------
    spec
        The model's settings: ``estimator``, ``features``, ``input``, ``params``,
        optionally ``vote`` (segment mode) and ``search`` (inner cross-validation).
    X, y
        Features of each track, as stored (already transformed unless the input
        is ``image``), and genres.
    train
        Boolean mask of the training tracks; nothing else is fitted on.
    valid
        Boolean mask of validation tracks (early stopping of Keras models).
    base_model
        For ``cnn_svm`` / ``cnn_gmm``: the window CNN fitted on the same
        training tracks (the fold model of the entry's ``base``), reused
        instead of training the same CNN again.
    base_transform
        That CNN's fitted row standardizer (``image`` input), used as it is: the
        network learned its scale, which a refit here need not give (a base fitted
        by an earlier release of this code, say).
    seed, threads
        The model's seed and the job's threads (BLAS and TensorFlow, unless
        ``fit_threads`` is given).
    fit_threads
        The threads of a model whose results depend on the count (TensorFlow's,
        logistic regression's BLAS sums): the workflow passes ``threads.train``
        of the config for them, whatever the threads a job is granted. The
        estimators of :data:`~genrepipe.estimators.SINGLE_THREADED_ESTIMATORS`
        train on one thread whatever either says.

    Returns
    -------
    model, transform, proba, info
        The fitted estimator; for an ``image`` input the row standardizer fitted
        here on training tracks, or ``base_transform`` as given (a CNN head with a
        ``base``), else None (``pca`` and ``scaled`` inputs come transformed);
        track-level probabilities of every row (columns in ``model.classes_``
        order); and a dict of details (fit seconds, chosen hyperparameters).
    """
    from threadpoolctl import threadpool_limits

    from genrepipe.models import make_model
    from genrepipe.preprocess import make_preprocessor
    from genrepipe.segments import expand_windows, vote

    info: dict[str, Any] = {}
    segmented = is_segmented(spec["features"])
    threads = fitting_threads(spec, threads, fit_threads)
    transform = None
    with threadpool_limits(limits=threads):
        if spec["input"] == "image" and base_transform is not None:
            transform = base_transform
            X = transform.transform(X)
        elif spec["input"] == "image":
            transform = make_preprocessor("image", int(train.sum()), 0, pca_components=None)
            # The window CNNs crop and vote before the features' padding: so do their
            # band statistics. The reference CNN reads every frame, padding included.
            transform.set_params(exclude_padding=spec["estimator"] != "cnn")
            X = transform.fit(X[train]).transform(X)
        n_tracks = len(X)
        groups = np.arange(n_tracks)
        if segmented:  # windows become rows; a track's windows share its side of the split
            X, groups = expand_windows(X)
            y, train = y[groups], train[groups]
            valid = None if valid is None else valid[groups]
            X = X.reshape(len(X), -1)
        model = make_model(
            spec["estimator"],
            spec["params"],
            random_state=seed,
            n_threads=threads,
        )
        if hasattr(model, "log"):
            model.log = logger.info
        search = spec.get("search")
        tracks = groups[train] if segmented else None
        start = time.perf_counter()
        if search:
            model = _inner_search(model, search, X[train], y[train], groups[train], seed, tracks)
            info["best_params"] = model.best_params_
            # Of windows in segment mode: the search scores the estimator, not the vote.
            info["inner_cv_accuracy"] = float(model.best_score_)
            logger.info("inner CV chose %s (accuracy %.3f)", model.best_params_, model.best_score_)
            model = model.best_estimator_
        elif valid is not None and valid.any() and spec["estimator"] in _VALIDATED:
            if base_model is None:  # a head on a fold's CNN stops on nothing itself
                _warn_unscorable_validation(y, train, valid, groups)
            model.fit(
                X[train],
                y[train],
                validation_data=(X[valid], y[valid]),
                **_fit_kwargs(model, transform, base_model, tracks),
            )
        else:
            model.fit(X[train], y[train], **_fit_kwargs(model, transform, base_model, tracks))
        info["fit_seconds"] = time.perf_counter() - start
        logger.info("fitted in %.1f s", info["fit_seconds"])
        proba = model.predict_proba(X)
    if not np.isfinite(proba).all():  # argmax would read NaN rows as the first genre
        n_bad = int((~np.isfinite(proba)).any(axis=1).sum())
        # A head's network has its learning_rate under params.cnn, or its base's entry.
        lower = "lower the network's learning_rate, or " * (
            spec["estimator"] in TENSORFLOW_ESTIMATORS
        )
        raise ValueError(
            f"{spec['estimator']}: the fitted model's probabilities are NaN or inf for "
            f"{n_bad} of {len(proba)} rows: its training diverged ({lower}check the scale "
            "of its features)"
        )
    if segmented:
        proba = vote(proba, groups, n_tracks, spec.get("vote") or "mean_log_proba")
    return model, transform, proba, info


def _warn_unscorable_validation(y, train, valid, groups) -> None:
    """Say which validation tracks early stopping cannot score: those of genres with no
    training track (a lists split's valid list can hold genres its train list lacks)."""
    unseen = valid & ~np.isin(y, np.unique(y[train]))
    if not unseen.any():
        return
    n_unseen, n_valid = len(np.unique(groups[unseen])), len(np.unique(groups[valid]))
    genres = ", ".join(sorted(map(str, np.unique(y[unseen]))))
    logger.warning(
        "early stopping: %d of %d validation tracks are of genres with no training track "
        "(%s) and are left out of its validation loss%s",
        n_unseen,
        n_valid,
        genres,
        "; none is left, so it trains every epoch" if n_unseen == n_valid else "",
    )


#: Estimators that stop early on a split's validation tracks when it has some.
_VALIDATED = ("nn", "cnn", "cnn_windows", "cnn_svm", "cnn_gmm")


def fitting_threads(spec: Mapping[str, Any], threads: int, fit_threads: int | None) -> int:
    """The threads a model fits and predicts on (see :func:`fit_and_predict`)."""
    if spec["estimator"] in SINGLE_THREADED_ESTIMATORS:
        return 1  # see SINGLE_THREADED_ESTIMATORS: reproducible only so
    return threads if fit_threads is None else fit_threads


def hold_tensorflow_threads(spec: Mapping[str, Any], threads: int, fit_threads: int | None) -> None:
    """Start TensorFlow on the model's threads, before anything loads a network.

    TensorFlow fixes its thread pools when it starts, which loading a saved
    network does (a head's base CNN, a fold network's kept epochs): asked later,
    when the model fits, the count could no longer take effect, and the network
    would run on every core of the machine, its sums in another order.
    """
    if spec["estimator"] in TENSORFLOW_ESTIMATORS:
        from genrepipe.models import set_tensorflow_threads

        set_tensorflow_threads(fitting_threads(spec, threads, fit_threads))


def _fit_kwargs(model, transform, base_model, tracks=None) -> dict[str, Any]:
    """Extra ``fit`` arguments, for the estimators that take them.

    ``input_scale``: the per-band standard deviation (dB) of the fitted row
    standardizer, so that augmentation gains are in dB; ``cnn``: a fitted
    base CNN to reuse; ``tracks``: the track of each window row in segment
    mode, so that calibration folds and validation slices split whole tracks.
    """
    import inspect

    accepted = inspect.signature(model.fit).parameters
    kwargs: dict[str, Any] = {}
    if "tracks" in accepted and tracks is not None:
        kwargs["tracks"] = tracks
    if "input_scale" in accepted and hasattr(transform, "scale_"):
        kwargs["input_scale"] = np.asarray(transform.scale_)
    if base_model is not None:
        if "cnn" not in accepted:
            raise ValueError(f"{type(model).__name__} cannot reuse a base model")
        kwargs["cnn"] = base_model
    return kwargs


def _inner_search(model, search: Mapping[str, Any], X, y, groups, seed: int, tracks=None):
    """Grid search with inner cross-validation on training rows only.

    ``tracks`` (segment mode) also reaches each candidate's ``fit``, sliced to
    its inner training rows, for the estimators that take it.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    # Grouped by track: windows of one track never sit on both sides of an inner split.
    inner_folds = int(search.get("inner_folds", 3))
    tracks_per_class = pd.Series(groups).groupby(np.asarray(y)).nunique()
    n_splits = min(inner_folds, max(2, int(tracks_per_class.min())))
    if int(tracks_per_class.max()) < n_splits:  # every genre one track: inner_folds is moot
        raise ValueError(
            "search: no genre has two training tracks for an inner cross-validation "
            "(more clips per genre in training, a smaller test share or fewer outer folds, "
            "or search: null)"
        )
    if n_splits < inner_folds:
        logger.warning(
            "inner cross-validation on %d folds instead of %d: a genre has only %d training tracks",
            n_splits,
            inner_folds,
            int(tracks_per_class.min()),
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    # The svm is an SVC inside a probability calibrator: its settings sit one level down.
    prefix = "estimator__" if hasattr(model, "estimator") else ""
    grid = GridSearchCV(
        model,
        {prefix + key: list(values) for key, values in search["param_grid"].items()},
        cv=list(splitter.split(X, y, groups)),
        scoring="accuracy",
        refit=True,
    )
    grid.fit(X, y, **_fit_kwargs(model, None, None, tracks))
    grid.best_params_ = {key.removeprefix(prefix): v for key, v in grid.best_params_.items()}
    return grid


def train_model(
    spec: Mapping[str, Any],
    feature_settings: Mapping[str, Any],
    features_table: str | Path,
    split_table: str | Path,
    fold: int,
    model_dir: str | Path,
    predictions_out: str | Path,
    *,
    transform_path: str | Path | None = None,
    base_dir: str | Path | None = None,
    seed: int,
    threads: int,
    fit_threads: int | None = None,
    sample_rate: int,
    max_duration: float | None,
) -> None:
    """Fit one model on a fold's training rows; predict its training and test rows.

    Writes the model bundle (preprocessing, estimator, card) to ``model_dir`` and
    one prediction row per track and subset to ``predictions_out``. ``base_dir``
    is the bundle of the same fold's ``base`` CNN, for ``cnn_svm`` / ``cnn_gmm``.
    ``sample_rate`` and ``max_duration`` (how the audio was read) go into the card,
    so that :mod:`genrepipe.predict` reads new audio as training did.
    """
    from genrepipe.bundle import save_bundle
    from genrepipe.feature_table import read_feature_index, read_feature_table

    hold_tensorflow_threads(spec, threads, fit_threads)
    ids, _ = read_feature_index(features_table)
    rows = fold_rows(split_table, fold, ids)
    _, _, X = read_feature_table(features_table, tracks=list(rows["track"]))
    y = rows["genre"].to_numpy(dtype=object)
    train = (rows["subset"] == "train").to_numpy()
    valid = (rows["subset"] == "valid").to_numpy()
    logger.info(
        "%s on %s: %d training tracks, %d others, input shape %s",
        spec["estimator"],
        spec["features"],
        train.sum(),
        (~train).sum(),
        X.shape[1:],
    )
    train_digest = train_tracks_digest(rows["track"][train])
    base_model = base_transform = None
    if base_dir is not None:
        from genrepipe.bundle import load_bundle

        base_transform, base_model, base_card = load_bundle(base_dir)
        # The training tracks themselves where the card names them (the count alone
        # matches another split's fold of the same size: stale or copied outputs).
        recorded = base_card.get("train_tracks_sha256")
        if (
            base_card.get("fold") != fold
            or base_card.get("n_train") != int(train.sum())
            or (recorded is not None and recorded != train_digest)
        ):
            raise ValueError(f"{base_dir} was fitted on another fold than fold {fold}")
        logger.info("reusing the fitted CNN of %s", base_dir)
    # The features are the fold's transformed ones: its fitted transform, which nothing
    # here reads (hundreds of MB for a PCA on GTZAN), is linked into the bundle unloaded.
    model, transform, proba, info = fit_and_predict(
        spec,
        X,
        y,
        train,
        valid=valid,
        base_model=base_model,
        base_transform=base_transform,
        seed=seed,
        threads=threads,
        fit_threads=fit_threads,
    )

    classes = [str(c) for c in model.classes_]
    predictions = rows[["fold", "track", "genre", "subset"]].copy()
    predictions["predicted"] = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    for j, genre in enumerate(classes):
        predictions[f"proba_{genre}"] = proba[:, j].round(6)
    for subset, part in predictions.groupby("subset"):
        logger.info("%s accuracy %.3f", subset, (part["genre"] == part["predicted"]).mean())

    card = bundle_card(
        spec, feature_settings, classes, info, seed=seed, n_train=int(train.sum())
    ) | {
        "fold": fold,
        "train_tracks_sha256": train_digest,
        "sample_rate": int(sample_rate),
        "max_duration": max_duration,
    }
    # The fold's transform as fitted by fit_preprocessing: linked, not written again;
    # an image input's row standardizer was fitted here, or is its base's (a CNN head
    # with a `base`).
    linked = None if spec["input"] == "image" else transform_path
    save_bundle(model_dir, transform=transform, model=model, card=card, transform_file=linked)
    write_table(predictions, predictions_out)


def train_tracks_digest(tracks: Iterable[str]) -> str:
    """SHA-256 of a fold's training track ids, sorted: which tracks a fold model saw."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(map(str, tracks))).encode()).hexdigest()


def bundle_card(
    spec: Mapping[str, Any],
    feature_settings: Mapping[str, Any],
    classes: Sequence[str],
    info: Mapping[str, Any],
    *,
    seed: int,
    n_train: int,
) -> dict[str, Any]:
    """The ``card.json`` of a model bundle: what :mod:`genrepipe.predict` needs, and fit details.

    Parameters
    ----------
    spec
        The model's settings (``estimator``, ``features``, ``input``, ``params``, ``vote``).
    feature_settings
        The settings its feature set was extracted with.
    classes
        Class names in the order of the estimator's probability columns.
    info
        Details from :func:`fit_and_predict` (``fit_seconds``, ``best_params``,
        ``inner_cv_accuracy``: the search's best mean accuracy on inner folds, of
        windows rather than voted tracks in segment mode).
    seed, n_train
        The model's seed and its number of training tracks.
    """
    return {
        "estimator": spec["estimator"],
        "features": spec["features"],
        "feature_settings": dict(feature_settings),
        "input": spec["input"],
        "params": dict(spec["params"]) | info.get("best_params", {}),
        "vote": spec.get("vote"),
        "classes": list(classes),
        "seed": seed,
        "n_train": n_train,
        "fit_seconds": round(info["fit_seconds"], 3),
        "inner_cv_accuracy": info.get("inner_cv_accuracy"),
    }


# -- final models --------------------------------------------------------------------------------


def train_final_model(
    spec: Mapping[str, Any],
    feature_settings: Mapping[str, Any],
    features_table: str | Path,
    tracks_table: str | Path,
    model_dir: str | Path,
    *,
    transform_path: str | Path | None = None,
    seed: int,
    threads: int,
    fit_threads: int | None = None,
    sample_rate: int,
    max_duration: float | None,
    base_model_dir: str | Path | None = None,
    lists_split_table: str | Path | None = None,
    fold_model_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fit one model on every usable track (every listed one with
    ``lists_split_table``); save the bundle.

    The model the workflow hands out, as opposed to the per-fold models that
    measure how well it generalizes. Same code path as :func:`train_model`, with
    every track on the training side.

    Parameters
    ----------
    spec, feature_settings
        The model's settings and its feature set's settings (see :func:`train_model`).
    features_table, tracks_table
        The model's features and ``results/tracks.tsv``: tracks in both are used.
        The features are the merged ones of its set for an image input, else those
        :func:`fit_final_preprocessing` wrote.
    model_dir
        Bundle folder to write (``transform.skops``, estimator, ``card.json``).
    transform_path
        The transform :func:`fit_final_preprocessing` fitted (not an image input's):
        linked into the bundle unread.
    seed, threads, fit_threads
        As for the fold models.
    sample_rate, max_duration
        How training audio was read; stored in the card so that
        :mod:`genrepipe.predict` reads new audio the same way.
    base_model_dir
        For a CNN head with a ``base``: the base's final bundle, whose CNN
        (trained on the same tracks) the head reuses instead of training its own.
    lists_split_table
        With the ``lists`` split scheme, its table: only the tracks it names are
        used (see :func:`final_rows`).
    fold_model_dir
        With the ``lists`` split, the fold model of a network, which stopped early on
        the split's validation tracks. A final network without a validation slice of
        its own (``validation_fraction: 0``) has none left out to stop on (it learns
        from them), so it trains the epochs the fold model kept, not every configured
        epoch; one with a slice stops on it.

    Returns
    -------
    dict
        The bundle's card.
    """
    from genrepipe.bundle import save_bundle
    from genrepipe.feature_table import read_feature_table

    if spec["input"] == "image" and transform_path is not None:
        raise ValueError(
            "an image input's standardizer is fitted here, or is its base's: no transform_path"
        )
    if spec["input"] != "image" and transform_path is None:
        raise ValueError(
            f"a {spec['input']} input needs transform_path, the transform of its features"
        )
    hold_tensorflow_threads(spec, threads, fit_threads)
    rows, which = final_rows(features_table, tracks_table, lists_split_table)
    _, _, X = read_feature_table(features_table, tracks=list(rows["track"]))
    y = rows["genre"].to_numpy(dtype=object)
    train = np.ones(len(rows), dtype=bool)
    logger.info(
        "final %s on %s: %d tracks (%s), input shape %s",
        spec["estimator"],
        spec["features"],
        len(rows),
        which,
        X.shape[1:],
    )
    base_model = base_transform = None
    if base_model_dir is not None:
        from genrepipe.bundle import load_bundle

        base_transform, base_model, _ = load_bundle(base_model_dir)
        logger.info("reusing the fitted CNN of %s", base_model_dir)
    elif fold_model_dir is not None and network_validation_fraction(spec) == 0:
        spec = with_epochs(spec, kept_epochs(fold_model_dir))
        logger.info(
            "training %d epochs: where the fold model %s stopped on the split's valid tracks",
            epochs_of(spec),
            fold_model_dir,
        )
    model, transform, proba, info = fit_and_predict(
        spec,
        X,
        y,
        train,
        base_model=base_model,
        base_transform=base_transform,
        seed=seed,
        threads=threads,
        fit_threads=fit_threads,
    )
    classes = [str(c) for c in model.classes_]
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    train_accuracy = float((predicted == y).mean())
    logger.info("training accuracy %.3f", train_accuracy)
    card = bundle_card(spec, feature_settings, classes, info, seed=seed, n_train=len(rows)) | {
        "final": True,
        "train_accuracy": round(train_accuracy, 4),
        "sample_rate": int(sample_rate),
        "max_duration": max_duration,
        # Length of the clips the model learned from: the predictor averages
        # windows of this length over longer files.
        "clip_seconds": round(float(rows["duration"].median()), 3),
    }
    save_bundle(
        model_dir, transform=transform, model=model, card=card, transform_file=transform_path
    )
    return card


def _network_params(spec: Mapping[str, Any]) -> str | None:
    """Where a model's network settings sit in its params: ``cnn`` for a CNN head."""
    return "cnn" if spec["estimator"] in ("cnn_svm", "cnn_gmm") else None


def epochs_of(spec: Mapping[str, Any]) -> int | None:
    """The configured epochs of a model's network (None: the estimator's default)."""
    params = spec.get("params") or {}
    if (key := _network_params(spec)) is not None:
        params = params.get(key) or {}
    return params.get("epochs")


def with_epochs(spec: Mapping[str, Any], epochs: int) -> dict[str, Any]:
    """``spec`` with its network trained for ``epochs`` (a copy)."""
    params = dict(spec.get("params") or {})
    if (key := _network_params(spec)) is not None:
        params[key] = dict(params.get(key) or {}) | {"epochs": int(epochs)}
    else:
        params["epochs"] = int(epochs)
    return dict(spec) | {"params": params}


def network_validation_fraction(spec: Mapping[str, Any]) -> float:
    """The share of its training tracks a model's network keeps aside to stop on."""
    from genrepipe.models import make_model

    model = make_model(spec["estimator"], dict(spec.get("params") or {}), random_state=0)
    if _network_params(spec) is not None:  # a CNN head builds its network when fitted
        from genrepipe.windows import WindowCNNClassifier

        model = WindowCNNClassifier(**dict(model.cnn_params or {}))
    return float(model.validation_fraction or 0.0)  # null is 0, as the estimators read it


def kept_epochs(fold_model_dir: str | Path) -> int:
    """The epochs a saved fold network kept: its best epoch when it stopped early."""
    from genrepipe.models import load_model

    # The estimator alone: the bundle's transform may be a PCA of hundreds of MB.
    card = read_json(Path(fold_model_dir) / "card.json")
    model = load_model(Path(fold_model_dir) / card["estimator_file"])
    network = getattr(model, "cnn_", model)  # a CNN head's own network
    if not hasattr(network, "best_epoch_"):
        raise ValueError(f"{fold_model_dir} holds no network trained in epochs")
    return int(network.best_epoch_)


def combine_final_ensemble(
    member_dirs: Sequence[str], members: Sequence[str], model_dir: str | Path
) -> dict:
    """The final bundle of a soft-voting ensemble: copies of its members' final bundles.

    Fits nothing, as the fold ensembles fit nothing; :mod:`genrepipe.predict`
    averages the members' probabilities. Returns the bundle's card.
    """
    from genrepipe.bundle import save_ensemble_bundle

    cards = [read_json(Path(d) / "card.json") for d in member_dirs]
    for name, card in zip(members[1:], cards[1:], strict=True):
        if card["classes"] != cards[0]["classes"]:
            raise ValueError(f"ensemble member {name} has other classes than {members[0]}")
    card = {
        "features": "+".join(dict.fromkeys(card["features"] for card in cards)),
        "feature_settings": {
            name: card["feature_settings"] for name, card in zip(members, cards, strict=True)
        },
        "input": "ensemble",
        "params": {},
        "classes": cards[0]["classes"],
        "n_train": max(card["n_train"] for card in cards),
        "sample_rate": cards[0].get("sample_rate"),
        "max_duration": cards[0].get("max_duration"),
        "clip_seconds": max(card.get("clip_seconds") or 0 for card in cards) or None,
        "final": True,
    }
    save_ensemble_bundle(model_dir, dict(zip(members, member_dirs, strict=True)), card)
    logger.info("final ensemble of %s", ", ".join(members))
    return read_json(Path(model_dir) / "card.json")


def write_model_card(
    model_dir: str | Path,
    metrics_file: str | Path,
    card_out: str | Path,
    *,
    model: str,
    spec: Mapping[str, Any],
    dataset: Mapping[str, Any],
    scheme: str,
) -> dict[str, Any]:
    """The model card of a final model: what it is, what it was trained on, how good it is.

    Parameters
    ----------
    model_dir
        The final model's bundle (its ``card.json`` gives features, classes, n_train).
    metrics_file
        ``results/metrics/<model>/<scheme>.json``: the accuracy measured on
        held-out tracks by the fold models, the best estimate of the final model's.
    card_out
        The JSON card to write.
    model, spec, dataset, scheme
        The model's name and settings, the dataset settings and the split scheme.
    """
    from datetime import UTC, datetime

    from genrepipe import __version__

    bundle = read_json(Path(model_dir) / "card.json")
    metrics = read_json(metrics_file)
    card = {
        "model": model,
        "bundle": Path(model_dir).name,
        "dataset": dict(dataset),
        "estimator": bundle["estimator"],
        "features": bundle["features"],
        "feature_settings": bundle["feature_settings"],
        "input": bundle["input"],
        "config": dict(spec),
        "params": bundle["params"],
        "classes": bundle["classes"],
        "n_train": bundle["n_train"],
        "sample_rate": bundle.get("sample_rate"),
        "clip_seconds": bundle.get("clip_seconds"),
        "train_accuracy": bundle.get("train_accuracy"),
        "evaluation": {
            "scheme": scheme,
            "n_folds": metrics["n_folds"],
            "n_test": metrics["n_test"],
            "test_accuracy": metrics["test_accuracy"],
            "test_accuracy_ci95": metrics["test_accuracy_ci95"],
            "test_macro_f1": metrics["test_macro_f1"],
            "note": "measured on held-out tracks by the fold models, trained like this one "
            "on fewer tracks",
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "genrepipe_version": __version__,
    }
    with atomic_path(card_out) as tmp:
        tmp.write_text(json.dumps(card, indent=2), encoding="utf-8")
    logger.info(
        "%s: final model on %d tracks, held-out test accuracy %.3f",
        model,
        card["n_train"],
        card["evaluation"]["test_accuracy"],
    )
    return card


def combine_ensemble(
    spec: Mapping[str, Any],
    member_tables: Sequence[str],
    member_dirs: Sequence[str],
    fold: int,
    model_dir: str | Path,
    predictions_out: str | Path,
    *,
    seed: int,
) -> pd.DataFrame:
    """Soft voting: the equal-weight mean of the members' class probabilities.

    Nothing is fitted: each member was trained on the fold's training tracks
    only, and its probabilities of every track are averaged as they are, so
    the ensemble sees no more than its members. Writes ``predictions_out`` in
    the format of :func:`train_model` and a ``model_dir`` holding
    ``card.json`` (members, classes, the members' summed fit time); the
    ensemble has no estimator file of its own.

    Parameters
    ----------
    spec
        ``estimator: ensemble`` and ``members`` (model names, in the order of
        ``member_tables``).
    member_tables, member_dirs
        Each member's ``predictions.tsv`` and model folder of this fold.
    fold, model_dir, predictions_out, seed
        As for :func:`train_model`.

    Returns
    -------
    pandas.DataFrame
        The ensemble's predictions.
    """
    key = ["fold", "track", "genre", "subset"]
    members = list(spec["members"])
    if len(members) != len(member_tables):
        raise ValueError(f"{len(members)} members but {len(member_tables)} prediction tables")
    tables = [read_table(path) for path in member_tables]
    columns = [c for c in tables[0].columns if c.startswith("proba_")]
    for name, table in zip(members, tables, strict=True):
        if sorted(c for c in table.columns if c.startswith("proba_")) != sorted(columns):
            raise ValueError(f"member {name} predicts other classes than {members[0]}")
        if (table["fold"] != fold).any():
            raise ValueError(f"member {name}'s predictions are not of fold {fold}")
    # Tracks every member predicted (a member's feature set may have left some out).
    merged = tables[0][key]
    for table in tables[1:]:
        merged = merged.merge(table[key], on=key, how="inner")
    dropped = max(len(t) for t in tables) - len(merged)
    if dropped:
        logger.warning("%d track rows lack a prediction of some member; left out", dropped)
    proba = np.zeros((len(merged), len(columns)))
    for table in tables:
        aligned = merged.merge(table[key + columns], on=key, how="left")
        proba += aligned[columns].to_numpy(dtype=np.float64)
    proba /= len(tables)
    classes = [c.removeprefix("proba_") for c in columns]
    predictions = merged.copy()
    predictions["predicted"] = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    for j, column in enumerate(columns):
        predictions[column] = proba[:, j].round(6)
    for subset, part in predictions.groupby("subset"):
        logger.info("%s accuracy %.3f", subset, (part["genre"] == part["predicted"]).mean())

    cards = [read_json(Path(d) / "card.json") for d in member_dirs]
    card = {
        "estimator": "ensemble",
        "members": members,
        "member_features": [c.get("features") for c in cards],
        "params": {},
        "classes": classes,
        "seed": seed,
        "fold": fold,
        "n_train": int((predictions["subset"] == "train").sum()),
        # No fitting of its own: the time its members took.
        "fit_seconds": round(sum(float(c["fit_seconds"]) for c in cards), 3),
    }
    with staged_folder(model_dir) as tmp:
        (tmp / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")
    write_table(predictions, predictions_out)
    return predictions


# -- evaluation and summary ----------------------------------------------------------------------


def evaluate_model(
    prediction_tables: Sequence[str],
    model_dirs: Sequence[str],
    metrics_out: str | Path,
    per_genre_out: str | Path,
    confusion_out: str | Path,
    confusion_plot: str | Path,
    *,
    title: str,
) -> dict:
    """Metrics of one model over all folds: JSON, per-genre CSV, confusion CSV and PNG."""
    from genrepipe.evaluate import evaluate_predictions, plot_confusion
    from genrepipe.plots import percent

    tables = [read_table(path) for path in prediction_tables]
    cards = [read_json(Path(d) / "card.json") for d in model_dirs]
    for path, table, card in zip(prediction_tables, tables, cards, strict=True):
        # A table cut or edited outside the workflow (its own writes are atomic) gave an
        # accuracy of its surviving rows, a cut label ("meta") counted as a genre.
        columns = ["track", "genre", "subset", "predicted"]
        unknown = sorted(
            map(str, set(table["predicted"].dropna()) - set(map(str, card["classes"])))
        )
        if table[columns].isna().any(axis=None) or unknown:
            what = f"genres its model does not know ({', '.join(unknown)})" if unknown else ""
            what = what or "empty cells"
            raise ValueError(
                f"{path}: predictions with {what}: the table is damaged; delete it, and the "
                "next run makes it again"
            )
    predictions = pd.concat(tables, ignore_index=True)
    present = set(predictions["genre"])
    classes = [g for g in GENRES if g in present] + sorted(present - set(GENRES))
    metrics = evaluate_predictions(predictions, classes)
    metrics["fit_seconds"] = float(np.mean([card["fit_seconds"] for card in cards]))
    with atomic_path(metrics_out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    per_genre = pd.DataFrame(metrics["per_genre"]).T.rename_axis("genre").reset_index()
    for count in ("support", "predicted"):  # the transpose made them floats
        per_genre[count] = per_genre[count].astype(int)
    with atomic_path(per_genre_out) as tmp:
        per_genre.to_csv(tmp, index=False, float_format=_FLOAT_FORMAT, lineterminator="\n")
    confusion = pd.DataFrame(metrics["confusion"], index=classes, columns=classes)
    with atomic_path(confusion_out) as tmp:
        confusion.rename_axis("true\\predicted").to_csv(tmp, lineterminator="\n")
    # Repeated k-fold tests every clip once per repeat: say that the cells count each clip so.
    tested = predictions.loc[predictions["subset"] == "test", "track"].value_counts()
    repeats = int(tested.iloc[0]) if len(tested) and tested.min() == tested.max() else 1
    counted = f", each clip counted {repeats} times" if repeats > 1 else ""
    # The summary's accuracy is the mean over folds; folds of unequal size pool to
    # another share of the cells' diagonal, which a reader checking the figure finds.
    cells = np.asarray(metrics["confusion"])
    accuracy = percent(metrics["test_accuracy"])
    if cells.sum() and (pooled := percent(np.trace(cells) / cells.sum())) != accuracy:
        accuracy += f" (mean of {metrics['n_folds']} folds; the cells pool to {pooled})"
    plot_confusion(
        cells,
        classes,
        confusion_plot,
        title=f"{title}\ntest accuracy {accuracy}{counted}",
        unit="test clips" if repeats == 1 else f"test predictions ({repeats} per clip)",
    )
    logger.info(
        "%s: test accuracy %.3f, train %.3f",
        title,
        metrics["test_accuracy"],
        metrics["train_accuracy"],
    )
    return metrics


def summarize_results(
    metrics_files: Sequence[str],
    models: Sequence[str],
    features: Sequence[str],
    references: Sequence[float | None],
    output: str | Path,
    *,
    dataset: str,
    scheme: str,
    split_report: str | Path | None = None,
) -> pd.DataFrame:
    """One row per model: accuracy, uncertainty, fit time, and the reference's accuracy.

    With the ``lists`` scheme, ``listed_missing`` counts the tracks named in the
    list files that the dataset does not hold or whose clip failed the audio check.
    """
    from genrepipe.evaluate import track_count

    missing = None
    if split_report is not None and scheme == "lists":
        missing = sum(read_json(split_report)["listed_missing"].values())
    rows = []
    for path, model, feature_set, reference in zip(
        metrics_files, models, features, references, strict=True
    ):
        m = read_json(path)
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "split": scheme,
                "feature_set": feature_set,
                "n_folds": m["n_folds"],
                "n_train": m["n_train"],
                "n_test": m["n_test"],
                "train_accuracy": m["train_accuracy"],
                "test_accuracy": m["test_accuracy"],
                "test_accuracy_std": m["test_accuracy_std"],
                "test_accuracy_ci95_low": m["test_accuracy_ci95"][0],
                "test_accuracy_ci95_high": m["test_accuracy_ci95"][1],
                "test_macro_f1": m["test_macro_f1"],
                "reference_test_accuracy": reference,
                "fit_seconds": m["fit_seconds"],
                "listed_missing": missing,
            }
        )
    summary = pd.DataFrame(rows)
    for column in ("n_train", "n_test"):
        # Objects, which float_format leaves alone: 144 beside 99.9, not 144.0000
        # (metrics files written before track_count hold 144.0).
        summary[column] = pd.Series([track_count(v) for v in summary[column]], dtype=object)
    with atomic_path(output) as tmp:
        summary.to_csv(tmp, index=False, float_format=_FLOAT_FORMAT, lineterminator="\n")
    logger.info("summary:\n%s", summary.to_string(index=False))
    return summary
