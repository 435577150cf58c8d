"""The extraction jobs' work: one feature set for a batch of tracks, one ``.npy`` per track.

Kept apart from :mod:`genrepipe.tasks` so that an extraction job, started once per
batch, imports only what it needs (no pandas): its start-up is paid per batch.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from genrepipe.audio import AudioError, load_audio
from genrepipe.io import atomic_path, save_npy
from genrepipe.log import Progress

logger = logging.getLogger("genrepipe")

#: What a failed track's cached file holds: an empty array, a cached "no".
FAILED_FEATURES = np.empty(0, dtype=np.float32)


def extract_features(
    feature_set: str,
    settings: Mapping[str, Any],
    paths: Sequence[str],
    tracks: Sequence[str],
    outputs: Sequence[str],
    report: str | os.PathLike,
    *,
    sr: int,
    max_duration: float,
    librosa_release: str | None = None,
) -> None:
    """Extract one feature set for a batch of tracks: one ``.npy`` per track.

    A track whose audio or features fail gets :data:`FAILED_FEATURES` and a line
    with the reason in the batch report; the other tracks go on. Clips shorter
    than ``dataset.min_duration`` are extracted too: the merge leaves out the
    tracks that the audio check refused, so that changing that setting
    re-extracts nothing.

    ``librosa_release``: the release the workflow's rerun trigger holds, that of the
    environment parsing the workflow for this job; a job running another (a conda
    environment apart from Snakemake's) says so. A cluster job parses the workflow
    again where it runs, so there the two agree and the warning stays silent.
    """
    import librosa
    from threadpoolctl import threadpool_limits

    from genrepipe.config import release
    from genrepipe.features import extract

    librosa_version = librosa.__version__  # what computes, whatever metadata is installed
    logger.info(
        "%s features of %d tracks with librosa %s", feature_set, len(paths), librosa_version
    )
    if librosa_release is not None and release(librosa_version) != librosa_release:
        logger.warning(
            "this job runs librosa %s, Snakemake's environment librosa %s: features are "
            "extracted again when the latter changes release, not when this job's does",
            librosa_version,
            librosa_release,
        )

    rows = []
    progress = Progress(len(paths), f"{feature_set} features", logger)
    # One track's matrices are small: BLAS threads only wait on each other (and
    # the job holds one core); parallelism comes from running jobs side by side.
    # Within a with: a caller in-process (a notebook, a test) keeps its own limit after.
    with threadpool_limits(limits=1):
        for path, track, output in zip(paths, tracks, outputs, strict=True):
            start = time.process_time()
            try:
                y = load_audio(path, sr=sr, max_duration=max_duration)
                features = extract(feature_set, y, sr, settings)
                status, reason = "ok", ""
            except (AudioError, ValueError) as error:
                # AudioError messages start with the path; name the file in the others too.
                reason = str(error) if isinstance(error, AudioError) else f"{path}: {error}"
                logger.warning("%s: %s", track, reason)
                features, status = FAILED_FEATURES, "failed"
            save_npy(output, features)
            rows.append((track, status, reason, round(time.process_time() - start, 4)))
            progress.step()
    with atomic_path(report) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["track", "status", "reason", "cpu_seconds"])
        writer.writerows(rows)
