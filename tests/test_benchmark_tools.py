"""tools/benchmark_extraction.py and tools/benchmark_workflow.py: what they refuse, and what
they leave behind (their measurements run the workflow for minutes: not here); and every
tool command the README quotes still parses."""

from __future__ import annotations

import importlib.util
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, readme_commands


def _count_cpu_tracks(tool, monkeypatch) -> list[int]:
    """Stand in for the extraction benchmark's CPU timing: record how many tracks it got."""
    measured = []

    def cpu_per_track(tracks, n):
        measured.append(len(tracks))
        return {"reference": 2.0, "seed87": 1.0, "rich": 0.5}, n, 0

    monkeypatch.setattr(tool, "cpu_per_track", cpu_per_track)
    return measured


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("tool", "argv", "message"),
    [
        ("benchmark_workflow", ["--n-per-genre", "5"], "a stratified split needs at least one"),
        ("benchmark_workflow", ["--duration", "0"], "expected positive seconds, got '0'"),
        ("benchmark_workflow", ["--cores", "0"], "expected at least 1, got 0"),
        ("benchmark_workflow", ["--sets", "stats", "nosuch"], "--sets nosuch: not a feature set"),
        ("benchmark_workflow", ["--seed87-frames", "2800"], "--seed87-frames sets the matrices"),
        ("benchmark_extraction", ["--data", "no/such/folder"], "no/such/folder: no such folder"),
        ("benchmark_extraction", ["--repeats", "0"], "expected at least 1, got 0"),
        ("benchmark_extraction", ["--cpu-tracks", "x"], "expected a whole number, got 'x'"),
        (
            "benchmark_extraction",
            ["--skip-wall", "--skip-cpu"],
            "--skip-wall and --skip-cpu together leave nothing to measure",
        ),
        ("benchmark_accuracy", [".", "--cores", "0"], "expected at least 1, got 0"),
        ("benchmark_accuracy", [".", "--configfile", "no/such.yaml"], "no/such.yaml: no such"),
    ],
)
def test_bad_arguments_are_one_usage_line_before_any_work(tool, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool(tool).main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_extraction_benchmark_refuses_too_few_tracks_for_the_split(gtzan_mini_dir, capsys):
    """--limit 20 used to fail inside Snakemake, its reason hidden by --quiet."""
    with pytest.raises(SystemExit):
        _tool("benchmark_extraction").main(["--data", str(gtzan_mini_dir), "--limit", "20"])
    assert "would refuse these 20 tracks: split.holdout.test_size" in capsys.readouterr().err
    # The workflow sees the copies: 10 tracks 5 times are 50 to split.
    with pytest.raises(SystemExit):
        _tool("benchmark_extraction").main(
            ["--data", str(gtzan_mini_dir), "--limit", "10", "--copies", "5"]
        )
    assert "would refuse these 50 tracks" in capsys.readouterr().err


def test_copies_are_batched_as_a_collection_of_their_size():
    # --limit 10 --copies 10 (clip 0 of each genre, ten times) gave ten batches of ten
    # tracks, where a real collection of 100 has two of 50: each paid a job's start-up.
    from genrepipe.dataset import Track, assign_batches

    tool = _tool("benchmark_extraction")
    genres = ["blues", "jazz", "rock", "pop", "metal", "disco", "reggae", "hiphop", "country"]
    firsts = [Track(f"{g}.00000", g, f"{g}/{g}.00000.wav") for g in [*genres, "classical"]]
    copies = tool.copy_tracks(firsts, 10)
    assert len({t.track for t in copies}) == 100
    assert [len(batch) for batch in assign_batches(copies, 50).values()] == [50, 50]
    # The mini set (ten clips a genre; jazz's numbered up to 12) ten times: two batches
    # of 50 for each hundred clips, as the README's --copies 10 measured.
    clips = [Track(f"{g}.{i:05d}", g, "x.wav") for g in genres for i in range(10)]
    clips += [Track(f"classical.{i:05d}", "classical", "x.wav") for i in (*range(8), 11, 12)]
    copies = tool.copy_tracks(clips, 10)
    assert len({t.track for t in copies}) == 1000
    assert [len(batch) for batch in assign_batches(copies, 50).values()] == [50] * 20


def test_cpu_per_track_needs_a_clip_besides_the_warm_up(tmp_path, capsys):
    # --limit 1 (or a one-clip folder) divided by the 0 tracks left after the warm-up.
    (tmp_path / "rock").mkdir()
    (tmp_path / "rock" / "rock.00000.wav").write_bytes(b"")
    with pytest.raises(SystemExit) as stop:
        _tool("benchmark_extraction").main(["--data", str(tmp_path), "--skip-wall"])
    assert stop.value.code == 2
    assert "CPU per track needs 2 clips (one warms up), found 1" in capsys.readouterr().err


def test_copies_of_one_clip_are_enough_for_the_cpu_measurement(tmp_path, monkeypatch):
    (tmp_path / "rock").mkdir()
    (tmp_path / "rock" / "rock.00000.wav").write_bytes(b"")
    tool = _tool("benchmark_extraction")
    measured = _count_cpu_tracks(tool, monkeypatch)
    assert tool.main(["--data", str(tmp_path), "--copies", "3", "--skip-wall"]) == 0
    assert measured == [3]


def test_workflow_benchmark_removes_its_folder_when_interrupted(tmp_path, monkeypatch):
    tool = _tool("benchmark_workflow")

    made = []

    def interrupted(args, tmp):
        made.append(tmp)
        (tmp / "genres").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(tool, "measure", interrupted)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        tool.main(["--n-per-genre", "10"])
    (tmp,) = made
    assert tmp.parent == tmp_path and not tmp.exists()
    assert list(tmp_path.iterdir()) == []


def test_extraction_benchmark_names_an_unreadable_clip_before_timing(tmp_path, monkeypatch, capsys):
    """A clip without read permission stops the workflow's audio check; the benchmark
    ended in a traceback, after the untimed warm-up (--skip-wall: after the CPU loads)."""
    from conftest import unreadable

    _two_clips_and_a_broken_one(tmp_path)
    locked = tmp_path / "rock" / "rock.00002.wav"
    unreadable(monkeypatch, lambda file: Path(file) == locked)
    tool = _tool("benchmark_extraction")
    for argv in ([], ["--skip-wall"]):
        with pytest.raises(SystemExit) as stop:
            tool.main(["--data", str(tmp_path), *argv])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "Traceback" not in err
        assert f"{locked}: cannot read the file (Permission denied)" in err


def test_extraction_benchmark_names_a_folder_without_clips(tmp_path, capsys):
    tool = _tool("benchmark_extraction")
    with pytest.raises(SystemExit) as stop:
        tool.main(["--data", str(tmp_path)])  # no genre folder: was a traceback
    assert stop.value.code == 2 and "holds no genre folder" in capsys.readouterr().err
    (tmp_path / "rock").mkdir()
    with pytest.raises(SystemExit) as stop:
        tool.main(["--data", str(tmp_path)])
    assert stop.value.code == 2
    assert f"--data {tmp_path}: its genre folders hold no audio clips" in capsys.readouterr().err


def test_cpu_measurements_alone_take_fewer_tracks_than_the_split(
    gtzan_mini_dir, monkeypatch, capsys
):
    # The split check is the workflow's: --skip-wall runs no workflow, so 20 tracks do.
    tool = _tool("benchmark_extraction")
    measured = _count_cpu_tracks(tool, monkeypatch)
    assert tool.main(["--data", str(gtzan_mini_dir), "--limit", "20", "--skip-wall"]) == 0
    assert measured == [20]
    assert "(e) rich CPU per track" in capsys.readouterr().out


def test_a_failed_run_shows_the_failed_jobs_logs(tmp_path):
    # Its --quiet hid Snakemake's report, and the logs went with the temporary folder.
    tool = _tool("benchmark_extraction")
    (tmp_path / "logs" / "list_tracks.log").parent.mkdir(parents=True)
    (tmp_path / "logs" / "list_tracks.log").write_text(
        "CRITICAL genrepipe: job failed: no usable track: all 100 clips failed\n", encoding="utf-8"
    )
    (tmp_path / "logs" / "check_audio").mkdir()
    (tmp_path / "logs" / "check_audio" / "batch0000.log").write_text(
        "INFO 50 of 50 usable\n", encoding="utf-8"
    )
    shown = tool.failed_job_logs(tmp_path)
    assert "--- logs/list_tracks.log ---" in shown and "no usable track" in shown
    assert "batch0000" not in shown


def test_the_timed_workflow_runs_the_extraction_jobs_alone(gtzan_mini_dir, tmp_path):
    """It targeted the merged table with --omit-from merge_features, which still ran the
    audio check of every clip and the track list: a second decoding the floor did not do."""
    import subprocess

    tool = _tool("benchmark_extraction")
    command = tool.extraction_command(gtzan_mini_dir, "seed87", 1, tmp_path, "--dry-run")
    planned = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=True)
    table = planned.stdout.split("Job stats:")[1].split("total")[0].splitlines()[3:]
    jobs = {line.split()[0] for line in table if line.strip()}
    assert jobs == {"extract_features_batch0000", "extract_features_batch0001"}


def _two_clips_and_a_broken_one(folder):
    """Two 25 s tones (over the default min_duration) and a file that does not decode."""
    import numpy as np
    import soundfile

    (folder / "rock").mkdir(parents=True)
    t = np.arange(25 * 22050) / 22050
    for i, pitch in enumerate((220.0, 330.0), start=1):
        tone = 0.3 * np.sin(2 * np.pi * pitch * t)
        soundfile.write(folder / "rock" / f"rock.0000{i}.wav", tone, 22050, subtype="PCM_16")
    broken = folder / "rock" / "rock.00000.wav"
    broken.write_bytes(b"RIFF, but no audio after it")
    return broken


def test_the_benchmarks_leave_out_a_clip_the_workflow_leaves_out(tmp_path, capsys):
    # Full GTZAN's .wav copies hold one such clip (jazz.00054): the floor's pool ended in
    # AudioError after the timed workflow run, (d) and (e) before timing anything.
    from genrepipe.dataset import discover_tracks

    tool = _tool("benchmark_extraction")
    broken = _two_clips_and_a_broken_one(tmp_path)
    config = tool.workflow_config()
    tool._SETTINGS.update(
        feature_set="stats",
        params=config["features"]["stats"],
        sr=22050,
        min_duration=config["dataset"]["min_duration"],
        max_duration=config["dataset"]["max_duration"],
    )
    assert tool._extract_one(str(broken)) is None
    assert tool._extract_one(str(tmp_path / "rock" / "rock.00001.wav"))[0] > 0
    tracks = discover_tracks(tmp_path).tracks
    cpu, timed, differ = tool.cpu_per_track(tracks, 5)
    assert timed == 1 and differ == 0 and cpu["seed87"] > 0  # one warms up, one is timed
    assert f"left out of (d) and (e): {broken}" in capsys.readouterr().err


def test_the_tools_import_this_checkouts_package(tmp_path):
    """Another genrepipe first on the path (another clone's editable install): the tools
    ran its code, where the workflow runs its own checkout's."""
    import os
    import subprocess
    import sys

    (tmp_path / "genrepipe").mkdir()
    (tmp_path / "genrepipe" / "__init__.py").write_text("", encoding="utf-8")
    code = "import workflow_command, genrepipe; print(genrepipe.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT / "tools",
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert found.stdout.strip() == str(PROJECT_ROOT / "src" / "genrepipe" / "__init__.py")


def test_the_memory_each_job_declares_is_read_from_snakemakes_job_lines(tmp_path):
    import subprocess
    import sys

    (tmp_path / "Snakefile").write_text(
        "localrules: b\n"
        "rule all:\n    input: 'a/1.txt', 'a/2.txt', 'b.txt'\n"
        "rule a:\n    input: 'b.txt'\n    output: 'a/{n}.txt'\n    log: 'a{n}.log'\n"
        "    benchmark: 'benchmarks/a/{n}.tsv'\n    threads: 2\n"
        "    resources: mem_mb=lambda wildcards: 1000 * int(wildcards.n)\n"
        "    shell: 'touch {output}'\n"
        "rule b:\n    output: 'b.txt'\n    benchmark: 'benchmarks/b.tsv'\n"
        "    resources: mem_mb=250, gpu=0\n    shell: 'touch {output}'\n"
        "rule c:\n    output: 'c.txt'\n    benchmark: 'benchmarks/c.tsv'\n"
        "    shell: 'touch {output}'\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--directory", str(tmp_path),
         "--snakefile", str(tmp_path / "Snakefile"), "all", "c.txt"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert _tool("benchmark_workflow").declared_memory(run.stdout + run.stderr) == {
        "a/1.tsv": 954.0,  # MiB, as Snakemake gives mem_mib: 1000 MB is 953.7
        "a/2.tsv": 1908.0,
        "b.tsv": 239.0,
    }


def test_job_peaks_are_the_exact_ones_the_job_logs_end_with(tmp_path):
    """Benchmark files sample every 0.5 s, then every 30 s: a CNN job peaking at 1626 MiB
    read 651 and 1161 in two runs. A log's last line is the job's own exact peak."""
    tool = _tool("benchmark_workflow")
    for job, rss, log in (
        ("train_model/cnn/holdout/fold0", "651.2", "epoch 1/1\n2026-12-07 INFO genrepipe: "),
        ("train_model/svm.rbf/holdout/fold0", "300.0", None),  # no log: the file's
        ("merge_features/stats", "-", "x INFO genrepipe: "),
    ):
        (tmp_path / "benchmarks" / job).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "benchmarks" / f"{job}.tsv").write_text(
            f"s\tmax_rss\n1.0\t{rss}\n", encoding="utf-8"
        )
        if log is not None:
            (tmp_path / "logs" / job).parent.mkdir(parents=True, exist_ok=True)
            peak = 1626 if "cnn" in job else 147
            (tmp_path / "logs" / f"{job}.log").write_text(
                f"{log}job's peak memory: {peak} MiB\n", encoding="utf-8"
            )
    assert sorted(tool.peak_memory(tmp_path)) == [
        (147.0, "merge_features/stats.tsv"),
        (300.0, "train_model/svm.rbf/holdout/fold0.tsv"),
        (1626.0, "train_model/cnn/holdout/fold0.tsv"),
    ]


@pytest.mark.parametrize(
    ("cnn_peak", "largest", "holds"),
    [(3700.0, 3750.0, True), (3900.0, 3750.0, False), (3700.0, 3850.0, False)],
)
def test_fitting_memory_holds_only_within_each_jobs_mem_mb(
    tmp_path, monkeypatch, capsys, cnn_peak, largest, holds
):
    tool = _tool("benchmark_workflow")
    output = (
        "rule fit_preprocessing:\n    benchmark: benchmarks/fit_preprocessing/s-pca/holdout/"
        "fold0.tsv\n    resources: tmpdir=/tmp, mem_mb=4000, mem=4 GB, mem_mib=3815\n"
        "rule train_model:\n    input: x\n    benchmark: benchmarks/train_model/cnn/holdout/"
        "fold0.tsv\n    wildcards: model=cnn\n"
        "    resources: tmpdir=/tmp, mem_mb=4000, mem=4 GB, mem_mib=3815, gpu=1\n"
        "rule train_model:\n    benchmark: benchmarks/train_model/svm/holdout/fold0.tsv\n"
        "    resources: tmpdir=/tmp, mem_mb=1500, mem=2 GB, mem_mib=1431\n"
        "rule merge_features:\n    benchmark: benchmarks/merge_features/s.tsv\n"
        "    resources: tmpdir=/tmp, mem_mb=100, mem_mib=96\n"  # not a fitting job: not compared
    )
    monkeypatch.setattr(tool, "snakemake", lambda *args: (12.0, output, largest))
    monkeypatch.setattr(
        tool,
        "peak_memory",
        lambda workdir: [
            (2700.0, "fit_preprocessing/s-pca/holdout/fold0.tsv"),
            (cnn_peak, "train_model/cnn/holdout/fold0.tsv"),
            (1400.0, "train_model/svm/holdout/fold0.tsv"),
            (300.0, "merge_features/s.tsv"),
        ],
    )
    assert tool.measure_fitting(tmp_path, tmp_path / "c.yaml", 2, tmp_path) is holds
    printed = capsys.readouterr().out
    assert f"train_model/cnn/holdout/fold0 {cnn_peak:.0f} MiB of 3815" in printed
    assert "train_model/svm/holdout/fold0 1400 MiB of 1431" in printed
    assert "merge_features" not in printed
    assert f"(getrusage, exact): {largest:.0f} MiB" in printed
    assert ("holds" if holds else "MISSED") in printed


def test_fitting_on_longer_seed87_matrices_passes_them_to_the_workflow(
    tmp_path, monkeypatch, capsys
):
    """--seed87-frames: the fitting jobs run on matrices that long, the networks still
    one epoch (the memory asked for grows with the matrices: the check of that)."""
    tool = _tool("benchmark_workflow")
    output = (
        "rule train_model:\n    benchmark: benchmarks/train_model/cnn/holdout/fold0.tsv\n"
        "    resources: tmpdir=/tmp, mem_mb=7874, mem=7.87 GB, mem_mib=7510, gpu=1\n"
    )
    overlays = []

    def snakemake(workdir, configs, cores, *targets):
        overlays.append(yaml.safe_load(configs[-1].read_text(encoding="utf-8")))
        return 12.0, output, 5000.0

    monkeypatch.setattr(tool, "snakemake", snakemake)
    monkeypatch.setattr(
        tool, "peak_memory", lambda workdir: [(4900.0, "train_model/cnn/holdout/fold0.tsv")]
    )
    assert tool.measure_fitting(tmp_path, tmp_path / "c.yaml", 2, tmp_path, 2800)
    assert overlays == [tool.ONE_EPOCH | {"features": {"seed87": {"n_frames": 2800}}}]
    assert "seed87 matrices of 2800 frames" in capsys.readouterr().out
    tool.measure_fitting(tmp_path, tmp_path / "c.yaml", 2, tmp_path)
    assert overlays[-1] == tool.ONE_EPOCH


def test_the_fitting_targets_are_fold_jobs_of_the_workflow(tmp_path):
    """What --fit asks the workflow for: a renamed model or output path would fail
    the benchmark after minutes of extraction."""
    from conftest import TINY_CONFIG, run_workflow

    tool = _tool("benchmark_workflow")
    overlay = tmp_path / "one_epoch.yaml"
    overlay.write_text(yaml.safe_dump(tool.ONE_EPOCH), encoding="utf-8")
    result = run_workflow(tmp_path, TINY_CONFIG, overlay, extra=["--dry-run", *tool.FIT_TARGETS])
    planned = set(re.findall(r"wildcards: model=([^,\s]+), scheme=holdout, fold=0", result.stdout))
    assert planned == {"cnn", "cnn_logmel", "cnn_mfcc", "cnn_svm", "nn", "svm_stats"}
    assert "feature_set=seed87, preprocessing=pca, scheme=holdout, fold=0" in result.stdout


README_TOOL_COMMANDS = readme_commands(r"tools/\w+\.py")


def test_the_readme_has_tool_commands_to_check():
    scripts = {words[0] for words in README_TOOL_COMMANDS}
    assert {"tools/benchmark_accuracy.py", "tools/benchmark_workflow.py"} <= scripts
    assert len(README_TOOL_COMMANDS) >= 8


class _Parsed(Exception):
    pass


@pytest.mark.parametrize("words", README_TOOL_COMMANDS, ids=" ".join)
def test_the_readmes_tool_commands_parse(words, monkeypatch):
    """Each tool command the README gives (measurements are quoted with the command that
    made them) still parses: a renamed option fails here, not for the reader. The tool stops
    right after parsing, before any work; model names must be config/config.yaml's."""
    import argparse

    parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(parse_args(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    tool = _tool(Path(words[0]).stem)
    with pytest.raises(_Parsed) as parsed:
        tool.main(words[1:])
    config = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    args = vars(parsed.value.args[0])
    named = [*(args.get("models") or []), *([args["model"]] if args.get("model") else [])]
    assert set(named) <= set(config["models"]), named
