"""Benchmark feature extraction: the workflow against an in-process floor, and seed87's CPU cost.

Prints, measured side by side in one run:

(a) wall time of the workflow extracting one feature set: ``snakemake --cores N`` in a
    temporary working directory on the dataset (``dataset.kind: gtzan``), targeting only
    the extraction batches' reports ``results/features/<set>/reports/<batch>.tsv``: the
    extraction jobs alone (not the audio check and merge the table would need);
(b) wall time of the floor: a ``multiprocessing`` pool of N workers, each importing librosa
    once, decoding and computing the same features of the same tracks;
(c) their ratio (target: at most 1.15);
(d) CPU seconds per track of ``seed87`` the reference way (one librosa call per feature,
    :func:`genrepipe.features.seed87_reference`) and the workflow's way
    (:func:`genrepipe.features.seed87`), interleaved track by track after a warm-up, with a
    check that both give the same values (target: at least 2x cheaper);
(e) CPU seconds per track of the ``rich`` set on the same tracks (target: no more than
    ``seed87``).

Run from the project root::

    .venv/bin/python tools/benchmark_extraction.py --data ../shared/data/gtzan_mini/genres --cores 2

``--repeats R`` alternates workflow and floor R times and reports each and the medians.
Before the first pair, an untimed warm-up fills librosa's numba cache and reads every clip
once, so that neither side of the first pair pays a one-time compile or a cold disk.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from workflow_command import PROJECT_ROOT, positive_int, snakemake_command, split_problem

DEFAULT_DATA = "../shared/data/gtzan_mini/genres"
TARGET_WALL_RATIO = 1.15
TARGET_CPU_RATIO = 2.0


def workflow_config() -> dict:
    """The workflow's default settings (config/config.yaml)."""
    return yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))


def select_tracks(data: Path, limit: int | None):
    """The dataset's tracks; with ``limit``, the first ``limit`` clip numbers across genres."""
    from genrepipe.dataset import discover_tracks, track_number

    tracks = discover_tracks(data).tracks
    if limit:
        tracks = sorted(tracks, key=lambda t: (track_number(t.track), t.genre))[:limit]
    return sorted(tracks, key=lambda t: (t.genre, t.track))


def copy_tracks(tracks, copies: int):
    """``copies`` times each track, a genre's clips renumbered 0, 1, 2, ... through the copies.

    A larger collection of real audio from a small one, to see how the workflow's
    fixed costs (Snakemake's own start and finish) weigh as the work grows. Numbered
    without gaps, the copies are batched as a collection of their size is: numbered
    100 apart, the first clip of each genre copied ten times made ten batches of ten
    tracks where 100 clips make two of 50, and each batch paid the job start-up.
    """
    from genrepipe.dataset import Track

    by_genre: dict[str, list] = {}
    for track in tracks:
        by_genre.setdefault(track.genre, []).append(track)
    return [
        Track(track=f"{genre}.{k * len(clips) + rank:05d}", genre=genre, path=clip.path)
        for genre, clips in by_genre.items()
        for k in range(copies)
        for rank, clip in enumerate(clips)
    ]


def link_dataset(tracks, destination: Path) -> Path:
    """A GTZAN-shaped folder of links to ``tracks`` (so the workflow sees only those)."""
    for track in tracks:
        link = destination / track.genre / f"{track.track}{Path(track.path).suffix}"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(track.path).resolve())
    return destination


# -- (a) the workflow ----------------------------------------------------------------------------


def extraction_targets(root: Path, feature_set: str) -> list[str]:
    """The report of every extraction batch of ``feature_set`` the workflow makes of ``root``.

    The extraction jobs alone: the merged table would bring in the audio check of every
    clip and the track list (its input), a second decoding the floor does not do.
    """
    from genrepipe.dataset import assign_batches, discover_tracks

    batches = assign_batches(
        discover_tracks(root).tracks, workflow_config()["features"]["tracks_per_job"]
    )
    return [f"results/features/{feature_set}/reports/{batch}.tsv" for batch in batches]


def extraction_command(root: Path, feature_set: str, cores: int, workdir: Path, *extra: str):
    """The Snakemake command :func:`run_workflow` times (its config written in ``workdir``)."""
    config = workdir / "benchmark.yaml"
    config.write_text(
        yaml.safe_dump({"dataset": {"kind": "gtzan", "gtzan": {"root": str(root.resolve())}}}),
        encoding="utf-8",
    )
    targets = extraction_targets(root, feature_set)
    return snakemake_command(
        workdir, *targets, "--quiet", "all", *extra, configfiles=[config], cores=cores
    )


def run_workflow(root: Path, feature_set: str, cores: int, workdir: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``snakemake --cores N`` making :func:`extraction_targets`.

    The run happens in ``workdir``; CPU seconds count Snakemake and all its jobs.
    """
    workdir.mkdir(parents=True)
    command = extraction_command(root, feature_set, cores, workdir)
    cpu = children_cpu()
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    wall = time.time() - start
    if result.returncode != 0:
        # --quiet hid Snakemake's own report, and the logs go with the temporary folder:
        # show the failed jobs' logs while they are there.
        sys.exit(
            f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
            f"{failed_job_logs(workdir)}"
        )
    (workdir / "started").write_text(repr(start), encoding="utf-8")
    return wall, children_cpu() - cpu


def failed_job_logs(workdir: Path, tail: int = 3000) -> str:
    """The end of every job log under ``workdir/logs`` that says the job failed."""
    reports = []
    for log in sorted((workdir / "logs").rglob("*.log")):
        text = log.read_text(errors="replace", encoding="utf-8")
        if "job failed" in text or "job stopped" in text:
            reports.append(f"\n--- {log.relative_to(workdir)} ---\n{text[-tail:]}")
    return "".join(reports)


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished (waited-for) children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timeline(workdir: Path, feature_set: str) -> str:
    """When each job ran, seconds after Snakemake started (from its benchmark files)."""
    import pandas as pd

    started = float((workdir / "started").read_text(encoding="utf-8"))
    spans = []
    for path in sorted((workdir / "benchmarks" / "extract_features" / feature_set).glob("*.tsv")):
        seconds = float(pd.read_csv(path, sep="\t").iloc[0]["s"])
        end = path.stat().st_mtime - started
        spans.append((end - seconds, end, path.stem))
    return ", ".join(f"{name} {a:.1f}-{b:.1f}" for a, b, name in sorted(spans))


def warm_up(tracks) -> float:
    """Fill librosa's numba cache and read every clip once; seconds taken (untimed work).

    In a fresh environment the first process to run the features compiles them (about
    20 s); whichever side of the first pair ran first would pay it alone.
    """
    from genrepipe import jit_cache

    start = time.perf_counter()
    jit_cache.ensure_filled()
    for track in tracks:
        Path(track.path).read_bytes()
    return time.perf_counter() - start


# -- (b) the floor -------------------------------------------------------------------------------

_SETTINGS: dict = {}


def _init_worker(settings: dict) -> None:
    """Pool initializer: import librosa and the features once per worker, one BLAS thread."""
    from threadpoolctl import threadpool_limits

    import genrepipe.features  # noqa: F401  (imports librosa)

    threadpool_limits(limits=1)
    _SETTINGS.update(settings)


def _extract_one(path: str) -> tuple[int, ...] | None:
    """The features' shape, or None for a clip the extraction jobs would skip too."""
    from genrepipe.audio import AudioError, load_audio
    from genrepipe.features import extract

    s = _SETTINGS
    try:
        y = load_audio(
            path, sr=s["sr"], min_duration=s["min_duration"], max_duration=s["max_duration"]
        )
        return extract(s["feature_set"], y, s["sr"], s["params"]).shape
    except (AudioError, ValueError):  # what extract_features jobs catch, list and go on
        return None


def run_floor(tracks, feature_set: str, cores: int) -> tuple[float, float]:
    """Wall and CPU seconds of a pool of ``cores`` workers extracting ``feature_set``."""
    config = workflow_config()
    settings = {
        "feature_set": feature_set,
        "params": config["features"].get(feature_set) or {},
        "sr": config["audio"]["sample_rate"],
        # As the extraction jobs read clips: which are long enough is the audio check's call.
        "min_duration": 0.0,
        "max_duration": config["dataset"]["max_duration"],
    }
    cpu = children_cpu()
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as workflow jobs
    pool = context.Pool(cores, initializer=_init_worker, initargs=(settings,))
    shapes = pool.map(_extract_one, [t.path for t in tracks], chunksize=1)
    pool.close()
    pool.join()  # the workers exit here: their CPU time is counted
    wall = time.perf_counter() - start
    assert len(shapes) == len(tracks)
    return wall, children_cpu() - cpu


# -- (d), (e) CPU per track of seed87 and rich ----------------------------------------------------


def rows_close(actual, expected) -> bool:
    """The equality check of tests/test_features.py: row-wise, tolerance scaled per row."""
    import numpy as np

    if actual.shape != expected.shape:
        return False
    for a, e in zip(actual, expected, strict=True):
        scale = max(float(np.max(np.abs(e))), 1e-12)
        if not np.allclose(a, e, rtol=1e-4, atol=1e-5 * scale):
            return False
    return True


def cpu_per_track(tracks, n_tracks: int) -> tuple[dict[str, float], int, int]:
    """CPU seconds per track of seed87 the reference way, the workflow's seed87, and rich.

    One warm-up track (numba JIT, imports, filter caches) is left out of the timing;
    then for each of ``n_tracks`` other tracks all three are computed, in an order
    that rotates from track to track. Returns (seconds per track by name, tracks
    timed, tracks whose two seed87 differ).
    """
    from threadpoolctl import threadpool_limits

    from genrepipe.features import extract, seed87, seed87_reference

    config = workflow_config()
    params = config["features"].get("seed87") or {}
    rich_params = config["features"].get("rich") or {}
    sr = config["audio"]["sample_rate"]
    functions = {
        "reference": lambda y: seed87_reference(y, sr, **params),
        "seed87": lambda y: seed87(y, sr, **params),
        "rich": lambda y: extract("rich", y, sr, rich_params),
    }
    # Spread the timed tracks over genres: tuning (and so the CQT filters) varies by track.
    spread = sorted(tracks, key=lambda t: (t.track.rsplit(".", 1)[-1], t.genre))
    load = {"sr": sr, "min_duration": 0.0, "max_duration": config["dataset"]["max_duration"]}
    chosen = readable(spread, n_tracks + 1, load)
    if len(chosen) < 2:
        raise SystemExit("(d) and (e) need 2 clips that decode (one warms up)")
    cpu = dict.fromkeys(functions, 0.0)
    differ = 0
    with threadpool_limits(limits=1):  # as in the extraction jobs
        warm = chosen[0][1]
        for function in functions.values():
            function(warm)
        for i, (_, y) in enumerate(chosen[1:]):
            names = list(functions)
            out = {}
            for name in names[i % 3 :] + names[: i % 3]:
                start = time.process_time()
                out[name] = functions[name](y)
                cpu[name] += time.process_time() - start
            differ += not rows_close(out["seed87"], out["reference"])
    n = len(chosen) - 1
    return {name: seconds / n for name, seconds in cpu.items()}, n, differ


def readable(tracks, n: int, load: dict) -> list:
    """The first ``n`` of ``tracks`` that decode, as ``(track, samples)``; warns of others."""
    from genrepipe.audio import AudioError, load_audio

    found = []
    for track in tracks:
        if len(found) == n:
            break
        try:
            found.append((track, load_audio(track.path, **load)))
        except AudioError as error:
            print(f"left out of (d) and (e): {error}", file=sys.stderr)
    return found


# -- main ----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="GTZAN genres folder")
    parser.add_argument(
        "--cores", type=positive_int, default=2, help="snakemake --cores and pool size"
    )
    parser.add_argument("--feature-set", default="seed87", help="feature set to extract")
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="use only the first this many tracks; the workflow's default split (a 10%% "
        "holdout of ten genres) needs at least 91 in all, a test track of each genre, --copies "
        "included (--limit 10 --copies 10)",
    )
    parser.add_argument(
        "--copies",
        type=positive_int,
        default=1,
        help="use every track this many times (a larger set)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=1, help="workflow/floor pairs to time"
    )
    parser.add_argument(
        "--cpu-tracks", type=positive_int, default=10, help="tracks timed for CPU per track (d, e)"
    )
    parser.add_argument("--skip-wall", action="store_true", help="only measure (d) and (e)")
    parser.add_argument("--skip-cpu", action="store_true", help="only measure (a)-(c)")
    args = parser.parse_args(argv)
    if args.skip_wall and args.skip_cpu:
        parser.error("--skip-wall and --skip-cpu together leave nothing to measure")

    data = Path(args.data)
    if not data.is_dir():
        parser.error(f"--data {data}: no such folder")
    from genrepipe.config import FEATURE_DEFAULTS

    if args.feature_set not in FEATURE_DEFAULTS:
        parser.error(f"--feature-set {args.feature_set}: one of {', '.join(FEATURE_DEFAULTS)}")
    try:
        tracks = select_tracks(data, args.limit)
    except (FileNotFoundError, ValueError) as error:  # no genre folder, braces in the path
        parser.error(f"--data {data}: {error}")
    if not tracks:
        parser.error(f"--data {data}: its genre folders hold no audio clips")
    from genrepipe.audio import check_readable

    try:  # the workflow's audio check stops on such a clip; here, before anything is timed
        for track in tracks:
            check_readable(track.path)
    except OSError as error:
        parser.error(str(error))
    genres = [track.genre for track in tracks] * args.copies  # the workflow sees the copies
    if not args.skip_cpu and len(genres) < 2:  # the copies count
        parser.error(f"--data {data}: CPU per track needs 2 clips (one warms up), found 1")
    # Only the workflow's run splits the tracks: (d) and (e) take any number.
    if not args.skip_wall and (problem := split_problem(workflow_config(), genres)):
        parser.error(f"the workflow would refuse these {len(genres)} tracks: {problem}")
    if args.copies > 1:
        tracks = copy_tracks(tracks, args.copies)
    print(f"dataset: {data} ({len(tracks)} tracks), cores: {args.cores}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    config = workflow_config()
    print(f"features.tracks_per_job: {config['features']['tracks_per_job']}")
    ok = True

    if not args.skip_wall:
        print(f"warm-up (numba cache, clips read once; untimed): {warm_up(tracks):.1f} s")
        workflow_walls, floor_walls = [], []
        with tempfile.TemporaryDirectory(prefix="genrepipe-bench-") as tmp:
            tmp = Path(tmp)
            root = link_dataset(tracks, tmp / "genres") if args.limit or args.copies > 1 else data
            for repeat in range(args.repeats):
                workdir = tmp / f"run{repeat}"
                wall, wall_cpu = run_workflow(root, args.feature_set, args.cores, workdir)
                floor, floor_cpu = run_floor(tracks, args.feature_set, args.cores)
                workflow_walls.append(wall)
                floor_walls.append(floor)
                print(
                    f"repeat {repeat + 1}: (a) workflow {wall:5.1f} s ({wall_cpu:5.1f} s CPU)"
                    f"   (b) floor {floor:5.1f} s ({floor_cpu:5.1f} s CPU)"
                    f"   (c) ratio {wall / floor:.2f}\n"
                    f"    workflow jobs (s after start): {timeline(workdir, args.feature_set)}, "
                    f"end {wall:.1f}",
                    flush=True,
                )
        wall, floor = statistics.median(workflow_walls), statistics.median(floor_walls)
        ratio = statistics.median(w / f for w, f in zip(workflow_walls, floor_walls, strict=True))
        holds = ratio <= TARGET_WALL_RATIO
        ok &= holds
        print(
            f"(a) workflow extraction of {args.feature_set}: {wall:.1f} s wall (median)\n"
            f"(b) in-process pool of {args.cores}: {floor:.1f} s wall (median)\n"
            f"(c) workflow / floor: {ratio:.2f} (median of pairs; target <= {TARGET_WALL_RATIO}: "
            f"{'holds' if holds else 'MISSED'})"
        )

    if not args.skip_cpu:
        cpu, n, differ = cpu_per_track(tracks, args.cpu_tracks)
        reference, workflow, rich = cpu["reference"], cpu["seed87"], cpu["rich"]
        holds = reference / workflow >= TARGET_CPU_RATIO and differ == 0
        ok &= holds
        print(
            f"(d) seed87 CPU per track over {n} tracks (interleaved, after warm-up): reference "
            f"{reference * 1000:.0f} ms, workflow {workflow * 1000:.0f} ms, "
            f"{reference / workflow:.2f}x cheaper; values equal on {n - differ}/{n} tracks "
            f"(target >= {TARGET_CPU_RATIO}x and all equal: {'holds' if holds else 'MISSED'})"
        )
        holds = rich <= workflow
        ok &= holds
        print(
            f"(e) rich CPU per track over the same tracks: {rich * 1000:.0f} ms, "
            f"{rich / workflow:.2f}x seed87's (target <= 1: {'holds' if holds else 'MISSED'})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Snakemake has stopped its jobs; the folders are gone
        sys.exit("benchmark_extraction.py: interrupted")
