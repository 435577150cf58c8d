"""tools/benchmark_extraction.py and tools/benchmark_workflow.py: what they refuse, and what
they leave behind (their measurements run the workflow for minutes: not here)."""

from __future__ import annotations

import importlib.util
import tempfile

import pytest
from conftest import PROJECT_ROOT


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
        ("benchmark_extraction", ["--data", "no/such/folder"], "no/such/folder: no such folder"),
        ("benchmark_extraction", ["--repeats", "0"], "expected at least 1, got 0"),
        ("benchmark_extraction", ["--cpu-tracks", "x"], "expected a whole number, got 'x'"),
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


def test_workflow_benchmark_removes_its_folder_when_interrupted(tmp_path, monkeypatch):
    tool = _tool("benchmark_workflow")

    def interrupted(args, tmp):
        (tmp / "genres").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(tool, "measure", interrupted)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        tool.main(["--n-per-genre", "10"])
    assert list(tmp_path.iterdir()) == []
