"""tools/benchmark_extraction.py and tools/benchmark_workflow.py: what they refuse, and what
they leave behind (their measurements run the workflow for minutes: not here)."""

from __future__ import annotations

import importlib.util
import tempfile

import pytest
from conftest import PROJECT_ROOT


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
        "CRITICAL genrepipe: job failed: no usable track: all 100 clips failed\n"
    )
    (tmp_path / "logs" / "check_audio").mkdir()
    (tmp_path / "logs" / "check_audio" / "batch0000.log").write_text("INFO 50 of 50 usable\n")
    shown = tool.failed_job_logs(tmp_path)
    assert "--- logs/list_tracks.log ---" in shown and "no usable track" in shown
    assert "batch0000" not in shown
