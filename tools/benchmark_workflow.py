"""Benchmark the workflow's bookkeeping on a large collection: plan, no-op rerun, additions, memory.

On a generated GTZAN-shaped dataset of ``--n-per-genre`` x 10 clips (default 1000 clips of
2 s: the point is the number of files, not their length), in a temporary working directory,
prints against the targets:

1. wall time of ``snakemake --dry-run`` of the whole workflow (target: under 10 s);
2. wall time of a second, no-op run (target: under 15 s): the first run extracts and merges
   the feature sets of ``--sets`` (``results/features/<set>.parquet``, real jobs, no
   pre-created files), the second asks for the same targets and has nothing to do;
3. the peak memory of every job of the first run (each job's own, exact, which its log
   ends with), the merges of all clips included, and the exact peak of the largest
   process of that run (target: none above 2 GiB);
4. after adding one clip to every genre (10 clips), how many tracks the plan re-extracts:
   the extraction jobs of the dry run times their batch sizes (target: at most 100);
5. with ``--fit``, fitting at this scale: fold 0's ``seed87`` PCA, the reference ``cnn``
   on ``seed87`` images, ``cnn_logmel`` and ``cnn_mfcc`` on log-mel and MFCC windows,
   ``cnn_svm`` on ``cnn_logmel``'s embeddings, ``nn`` on the PCA (the networks one
   epoch: memory does not grow with epochs) and ``svm_stats`` on the scaled ``stats``,
   each fitting and training job's peak against the ``mem_mb`` it declares (target:
   within it; a cluster kills a job above it, and ``--resources mem_mb=N`` counts it);
   ``--seed87-frames 2800`` makes the seed87 matrices twice as long, and the jobs
   holding them ask for more.

Run from the project root::

    .venv/bin/python tools/benchmark_workflow.py --cores 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from workflow_command import PROJECT_ROOT, positive_int, snakemake_command, split_problem

from genrepipe.predict import positive_seconds

TARGET_DRY_RUN_S = 10.0
TARGET_NOOP_S = 15.0
TARGET_REEXTRACTED = 100
TARGET_RSS_MIB = 2048.0


def _write_clip(job: tuple[str, str, int, float, int]) -> None:
    from genrepipe.synthetic import write_clip

    path, genre, index, duration, seed = job
    write_clip(path, genre, index, seed=seed, duration=duration)


def write_clips(root: Path, indices: range, duration: float, cores: int, seed: int = 7) -> int:
    """Write clip ``indices`` of every genre under ``root/<genre>/`` (as write_dataset does)."""
    from genrepipe import GENRES

    jobs = []
    for genre in GENRES:
        (root / genre).mkdir(parents=True, exist_ok=True)
        jobs += [
            (str(root / genre / f"{genre}.{i:05d}.wav"), genre, i, duration, seed) for i in indices
        ]
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        pool.map(_write_clip, jobs, chunksize=8)
    return len(jobs)


#: Runs a command and reports the largest resident set of it and all its descendants
#: (getrusage of waited-for children: exact, where benchmark files sample every 0.5 s, then
#: every 30 s).
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print('peak-rss-kb', peak // 1024 if sys.platform == 'darwin' else peak)\n"
    "sys.exit(code)\n"
)


def snakemake(
    workdir: Path, configs: list[Path], cores: int, *args: str
) -> tuple[float, str, float]:
    """Run the project's workflow in ``workdir``.

    Returns wall seconds, its output, and the peak resident memory in MiB of Snakemake
    and every job it ran (the largest single process).
    """
    command = [
        sys.executable,
        "-c",
        _MEASURE,
        *snakemake_command(workdir, *args, configfiles=configs, cores=cores),
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    wall = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{output[-6000:]}")
    peak_kb = re.findall(r"^peak-rss-kb (\d+)$", result.stdout, flags=re.MULTILINE)
    return wall, output, int(peak_kb[-1]) / 1024


def planned_jobs(output: str) -> list[str]:
    """Rule names of the jobs a dry run plans, from its job list."""
    return re.findall(r"^\s*(?:local)?rule (\S+):$", output, flags=re.MULTILINE)


def peak_memory(workdir: Path) -> list[tuple[float, str]]:
    """(peak resident memory in MiB, job) of every job that wrote a benchmark file.

    Each job's own exact peak, the line its log ends with (genrepipe.log): the benchmark
    file's ``max_rss`` is sampled every 0.5 s, then every 30 s, and read 651 and 1161 MiB
    in two runs of a CNN job that peaked at 1626. That, where a log lacks the line.
    """
    import pandas as pd

    from genrepipe.log import PEAK_MEMORY_PATTERN

    peaks = []
    for path in sorted((workdir / "benchmarks").rglob("*.tsv")):
        job = str(path.relative_to(workdir / "benchmarks"))
        log = (workdir / "logs" / job).with_suffix(".log")
        lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
        if lines and (match := PEAK_MEMORY_PATTERN.search(lines[-1])):
            peaks.append((float(match[1]), job))
            continue
        rss = pd.read_csv(path, sep="\t").iloc[0]["max_rss"]
        if rss != "-":
            peaks.append((float(rss), job))
    return peaks


def declared_memory(output: str) -> dict[str, float]:
    """The memory each job of a run declares, in MiB (``mem_mib``, from its ``mem_mb``:
    the benchmark files' ``max_rss`` and getrusage count MiB), by its benchmark file (as
    named under ``benchmarks/``), from the lines Snakemake prints for the job."""
    declared, benchmark = {}, None
    for line in output.splitlines():
        line = line.strip()
        if re.match(r"^(?:local)?(?:rule|checkpoint) \S+:$", line):
            benchmark = None
        elif line.startswith("benchmark: "):
            benchmark = line.removeprefix("benchmark: ").removeprefix("benchmarks/")
        elif benchmark and line.startswith("resources: "):
            if found := re.search(r"\bmem_mib=(\d+)", line):
                declared[benchmark] = float(found.group(1))
    return declared


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=positive_int, default=2, help="snakemake --cores")
    parser.add_argument(
        "--n-per-genre",
        type=positive_int,
        default=100,
        help="clips per genre (at least 10: the default split holds out 10%% of them)",
    )
    parser.add_argument("--duration", type=positive_seconds, default=2.0, help="seconds per clip")
    parser.add_argument(
        "--sets", nargs="+", default=["stats", "seed87"], help="feature sets of the first run"
    )
    parser.add_argument(
        "--fit",
        action="store_true",
        help="5.: also fit fold 0's preprocessing and train cnn, cnn_logmel, cnn_mfcc, nn "
        "(one epoch each), cnn_svm and svm_stats (about 4 min on 1000 clips), each job's "
        "memory against its mem_mb",
    )
    parser.add_argument(
        "--seed87-frames",
        type=positive_int,
        help="with --fit: seed87 matrices of this many frames (the config's 1400 by default; "
        "2800 holds twice GTZAN's values, to see the memory asked for grow with them)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    if args.seed87_frames and not args.fit:
        parser.error("--seed87-frames sets the matrices of the fitting jobs: it needs --fit")
    from genrepipe import GENRES
    from genrepipe.config import FEATURE_DEFAULTS

    # Before generating the clips, not after, in a MissingRuleException.
    if args.fit and "seed87" not in args.sets:
        args.sets.append("seed87")  # what the fitting jobs read, extracted in 2.
    if unknown := [name for name in args.sets if name not in FEATURE_DEFAULTS]:
        parser.error(
            f"--sets {' '.join(unknown)}: not a feature set ({', '.join(FEATURE_DEFAULTS)})"
        )
    defaults = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    if problem := split_problem(defaults, [g for g in GENRES for _ in range(args.n_per_genre)]):
        parser.error(f"--n-per-genre {args.n_per_genre}: the workflow would refuse it: {problem}")

    tmp = Path(tempfile.mkdtemp(prefix="genrepipe-bench-workflow-"))
    try:
        return measure(args, tmp)
    finally:  # after a failure or Ctrl-C too
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args: argparse.Namespace, tmp: Path) -> int:
    """Generate the clips in ``tmp``, run the measurements; 0 when every target holds."""
    from genrepipe.dataset import assign_batches, discover_tracks

    root, workdir = tmp / "genres", tmp / "work"
    workdir.mkdir()
    config = tmp / "benchmark.yaml"
    settings = {
        "dataset": {
            "kind": "gtzan",
            "gtzan": {"root": str(root)},
            "min_duration": min(1.0, args.duration / 2),
        },
        # FIT_TARGETS are holdout files, which only a holdout config plans.
        "split": {"scheme": "holdout"},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    tracks_per_job = yaml.safe_load(
        (PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8")
    )["features"]["tracks_per_job"]
    targets = [f"results/features/{name}.parquet" for name in args.sets]
    ok = True

    start = time.perf_counter()
    n = write_clips(root, range(args.n_per_genre), args.duration, args.cores)
    seconds = time.perf_counter() - start
    print(
        f"dataset: {n} generated clips of {args.duration:g} s in {seconds:.0f} s"
        f" (tracks_per_job {tracks_per_job}, --cores {args.cores}); working directory {tmp}"
    )

    dry, output, _ = snakemake(workdir, [config], args.cores, "--dry-run")
    holds = dry < TARGET_DRY_RUN_S
    ok &= holds
    print(
        f"1. dry run of the whole workflow ({len(planned_jobs(output))} jobs planned): "
        f"{dry:.1f} s (target < {TARGET_DRY_RUN_S:g} s: {'holds' if holds else 'MISSED'})"
    )

    first, _, first_peak = snakemake(workdir, [config], args.cores, *targets)
    noop, output, _ = snakemake(workdir, [config], args.cores, *targets)
    nothing = "Nothing to be done" in output
    holds = noop < TARGET_NOOP_S and nothing
    ok &= holds
    print(
        f"2. first run up to {' '.join(targets)}: {first:.0f} s; second run of the same "
        f"targets: {noop:.1f} s, {'nothing to do' if nothing else 'RAN JOBS'} "
        f"(target < {TARGET_NOOP_S:g} s: {'holds' if holds else 'MISSED'})"
    )

    peaks = peak_memory(workdir)
    top, job = max(peaks)
    merges = [f"{job.removesuffix('.tsv')} {rss:.0f} MiB" for rss, job in peaks if "merge" in job]
    holds = max(top, first_peak) <= TARGET_RSS_MIB
    ok &= holds
    print(
        f"3. peak memory of the first run's {len(peaks)} jobs (each job's own, from its log): "
        f"highest {top:.0f} MiB ({job}); merges of {n} clips: {', '.join(merges)}; "
        f"largest process of the run, Snakemake included (getrusage, exact): "
        f"{first_peak:.0f} MiB (target <= {TARGET_RSS_MIB:.0f} MiB: "
        f"{'holds' if holds else 'MISSED'})"
    )

    added = write_clips(root, range(args.n_per_genre, args.n_per_genre + 1), args.duration, 1)
    dry_added, output, _ = snakemake(workdir, [config], args.cores, "--dry-run", *targets)
    batches = assign_batches(discover_tracks(root).tracks, tracks_per_job)
    extract = [rule for rule in planned_jobs(output) if rule.startswith("extract_features_")]
    # A job extracts one feature set for one batch, and each set's jobs for a batch
    # share its rule: the tracks of the batches touched are what each set re-extracts.
    touched = sorted(set(extract))
    reextracted = sum(len(batches[rule.removeprefix("extract_features_")]) for rule in touched)
    holds = reextracted <= TARGET_REEXTRACTED
    ok &= holds
    print(
        f"4. after adding {added} clips (one per genre): the plan ({dry_added:.1f} s) runs "
        f"{len(extract)} extraction jobs ({', '.join(touched)}) for {len(args.sets)} "
        f"feature sets, re-extracting {reextracted} tracks per set "
        f"(target <= {TARGET_REEXTRACTED}: {'holds' if holds else 'MISSED'})"
    )
    if args.fit:
        ok &= measure_fitting(workdir, config, args.cores, tmp, args.seed87_frames)
    return 0 if ok else 1


#: Fold 0 of the default holdout: the seed87 PCA, the reference CNN, the window CNNs
#: on log-mel and MFCC and the SVM head on the log-mel one's embeddings, the heaviest
#: jobs; the stats scaler, the nn on the PCA and svm_stats, jobs asking for less.
FIT_TARGETS = (
    "results/preprocessed/seed87-pca/holdout/fold0/transform.skops",
    "results/models/cnn/holdout/fold0/predictions.tsv",
    "results/models/cnn_logmel/holdout/fold0/predictions.tsv",
    "results/models/cnn_mfcc/holdout/fold0/predictions.tsv",
    "results/models/cnn_svm/holdout/fold0/predictions.tsv",
    "results/models/nn/holdout/fold0/predictions.tsv",
    "results/models/svm_stats/holdout/fold0/predictions.tsv",
)
#: The networks train one epoch: memory does not grow with epochs.
ONE_EPOCH = {
    "models": {name: {"params": {"epochs": 1}} for name in ("cnn", "cnn_logmel", "cnn_mfcc", "nn")}
}


def measure_fitting(
    workdir: Path, config: Path, cores: int, tmp: Path, seed87_frames: int | None = None
) -> bool:
    """5.: run :data:`FIT_TARGETS` and compare each fitting and training job's peak
    with the ``mem_mb`` it declares; True when every one is within it. With
    ``seed87_frames``, on seed87 matrices that long (extracted again)."""
    one_epoch = tmp / "one_epoch.yaml"
    settings = dict(ONE_EPOCH)
    if seed87_frames:
        settings["features"] = {"seed87": {"n_frames": seed87_frames}}
    one_epoch.write_text(yaml.safe_dump(settings), encoding="utf-8")
    wall, output, largest = snakemake(workdir, [config, one_epoch], cores, *FIT_TARGETS)
    declared = {
        job: mb
        for job, mb in declared_memory(output).items()
        if job.startswith(("fit_preprocessing/", "train_model/"))
    }
    peaks = {job: rss for rss, job in peak_memory(workdir)}
    if not declared:
        sys.exit("5.: Snakemake printed the mem_mb of no fitting or training job")
    if unmeasured := sorted(set(declared) - set(peaks)):
        sys.exit(f"5.: no benchmark file of {', '.join(unmeasured)}")
    holds = all(peaks[job] <= mb for job, mb in declared.items())
    lines = [
        f"{job.removesuffix('.tsv')} {peaks[job]:.0f} MiB of {mb:.0f}"
        for job, mb in sorted(declared.items())
    ]
    # No process of the run (Snakemake's own included) above the most any job asks for.
    holds &= largest <= max(declared.values())
    longer = f"; seed87 matrices of {seed87_frames} frames" if seed87_frames else ""
    print(
        f"5. fitting on these clips ({wall:.0f} s; networks one epoch{longer}): peak of each "
        f"job (its own, from its log) against the memory it declares (its mem_mb in MiB): "
        f"{', '.join(lines)}; largest process of the run (getrusage, exact): {largest:.0f} MiB "
        f"(target: within: {'holds' if holds else 'MISSED'})"
    )
    return holds


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Snakemake has stopped its jobs; the folders are gone
        sys.exit("benchmark_workflow.py: interrupted")
