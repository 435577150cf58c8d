"""Tests of the run history: recording runs and comparing them side by side."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from genrepipe.history import (
    ABSENT,
    compare_runs,
    config_hash,
    flatten_config,
    git_revision,
    list_runs,
    load_run,
    main,
    record_run,
)

BASE_CONFIG = {
    "dataset": {"kind": "synthetic", "synthetic": {"n_per_genre": 8, "seed": 7}},
    "seed": 42,
    "run_models": ["gmm", "svm"],
    "models": {
        "gmm": {"estimator": "gmm", "params": {"n_components": 1}},
        "svm": {"estimator": "svm", "params": {"C": 1.0, "gamma": "scale"}},
    },
    "features": {"sets": ["seed87", "stats"]},
}


def write_summary(path: Path, accuracies: dict[str, float]) -> Path:
    pd.DataFrame({"model": list(accuracies), "test_accuracy": list(accuracies.values())}).to_csv(
        path, index=False
    )
    return path


def changed(config: dict, **updates) -> dict:
    """A deep copy of ``config`` with dotted keys set."""
    config = json.loads(json.dumps(config))
    for dotted, value in updates.items():
        node = config
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return config


@pytest.fixture()
def two_runs(tmp_path) -> Path:
    """Two recorded runs: the second with svm C=10 and 16 clips per genre."""
    latest = tmp_path / "results" / "history" / "latest.txt"
    first = write_summary(tmp_path / "a.csv", {"gmm": 0.70, "svm": 0.74})
    record_run(
        first, latest, config=BASE_CONFIG, repo=None, now=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    second_config = changed(
        BASE_CONFIG, **{"models.svm.params.C": 10.0, "dataset.synthetic.n_per_genre": 16}
    )
    second = write_summary(tmp_path / "b.csv", {"gmm": 0.68, "svm": 0.80})
    record_run(
        second, latest, config=second_config, repo=None, now=datetime(2025, 1, 3, tzinfo=UTC)
    )
    return latest.parent


def test_runs_of_the_same_settings_on_other_split_lists_show_the_difference(tmp_path):
    """A split's list files (split.lists) are no setting: editing them reran the split and
    every model, and the two entries' configs were the same, the accuracies not."""
    latest = tmp_path / "history" / "latest.txt"
    tracks = tmp_path / "tracks.tsv"
    tracks.write_text("track\tgenre\nrock.00000\trock\n", encoding="utf-8")
    for i, test_track in enumerate(["classical.00004", "classical.00005"]):
        split = tmp_path / f"split{i}.tsv"
        split.write_text(f"fold\ttrack\tsubset\n0\t{test_track}\ttest\n", encoding="utf-8")
        summary = write_summary(tmp_path / f"{i}.csv", {"svm": 0.5 + i / 10})
        record_run(
            summary,
            latest,
            config=BASE_CONFIG,
            repo=None,
            now=datetime(2025, 1, 1 + i),
            inputs={"tracks": tracks, "split": split},
        )
    runs = [load_run(entry) for entry in list_runs(latest.parent)]
    split0 = (tmp_path / "split0.tsv").read_bytes()
    assert runs[0].info["inputs"]["split"] == hashlib.sha256(split0).hexdigest()
    table = compare_runs(runs)
    first, second = (runs[i].info["inputs"]["split"][:12] for i in (0, 1))
    assert list(table.loc["inputs.split"]) == [first, second] and first != second
    assert "inputs.tracks" not in table.index  # the same clips: not a difference
    # A run recorded before the digests were: shown as absent, not an error.
    (list_runs(latest.parent)[0] / "run.json").write_text(
        json.dumps({"date": "2024"}), encoding="utf-8"
    )
    table = compare_runs([load_run(entry) for entry in list_runs(latest.parent)])
    assert list(table.loc["inputs.tracks"]) == [ABSENT, runs[1].info["inputs"]["tracks"][:12]]


def test_record_run_writes_an_entry(two_runs):
    entries = list_runs(two_runs)
    assert [e.name[:17] for e in entries] == ["20250102T030405Z-", "20250103T000000Z-"]
    assert entries[0].name.endswith(config_hash(BASE_CONFIG))
    assert (two_runs / "latest.txt").read_text(encoding="utf-8").strip() == entries[1].name
    run = load_run(entries[0])
    assert run.config == BASE_CONFIG
    assert run.info["git_revision"] == "unknown" and run.info["git_dirty"] is None
    assert run.info["date"] == "2025-01-02T03:04:05+00:00"
    assert list(run.summary["model"]) == ["gmm", "svm"]
    assert not [p for p in two_runs.iterdir() if p.name.startswith(".")]  # no leftovers


def test_same_second_and_config_get_distinct_entries(tmp_path):
    latest = tmp_path / "history" / "latest.txt"
    now = datetime(2025, 5, 5, tzinfo=UTC)
    first = write_summary(tmp_path / "a.csv", {"gmm": 0.5})
    a = record_run(first, latest, config=BASE_CONFIG, repo=None, now=now)
    second = write_summary(tmp_path / "b.csv", {"gmm": 0.6})
    b = record_run(second, latest, config=BASE_CONFIG, repo=None, now=now)
    assert a != b and a.is_dir() and b.is_dir()
    # A third in that second counts on past the second's name instead of replacing it.
    third = write_summary(tmp_path / "c.csv", {"gmm": 0.7})
    c = record_run(third, latest, config=BASE_CONFIG, repo=None, now=now)
    assert len({a, b, c}) == 3 and all(entry.is_dir() for entry in (a, b, c))
    assert [load_run(entry).summary["test_accuracy"].item() for entry in (a, b, c)] == [
        0.5,
        0.6,
        0.7,
    ]


def test_an_unchanged_summary_gets_no_second_entry(two_runs, tmp_path, caplog):
    """A setting the results do not depend on changed: nothing was rebuilt, nothing recorded."""
    latest = two_runs / "latest.txt"
    newest = list_runs(two_runs)[-1]
    config = changed(load_run(newest).config, **{"threads.train": 1})
    with caplog.at_level("INFO", logger="genrepipe"):
        entry = record_run(newest / "summary.csv", latest, config=config, repo=None)
    assert entry == newest and list_runs(two_runs)[-1] == newest
    assert latest.read_text(encoding="utf-8").strip() == newest.name
    # The log says so, and only so (it went on to say the run was recorded).
    assert [r.getMessage() for r in caplog.records] == [
        f"summary unchanged since {newest.name}: no new history entry"
    ]
    caplog.clear()
    # A changed summary is a new run.
    other = write_summary(tmp_path / "c.csv", {"gmm": 0.71, "svm": 0.80})
    with caplog.at_level("INFO", logger="genrepipe"):
        entry = record_run(other, latest, config=config, repo=None)
    assert entry != newest
    assert [r.getMessage() for r in caplog.records] == [f"recorded this run in {entry}"]


def test_a_rebuilt_summary_like_the_last_is_a_run_of_its_own(two_runs, tmp_path, caplog):
    # A sweep of svm C (search off): C=90 retrained svm_stats, scored as C=80 did, in
    # the same rounded fit time, and left no entry ("summary unchanged since ..."): the
    # history went from C=80 to C=110, and latest.txt named the C=80 entry.
    latest = two_runs / "latest.txt"
    newest = list_runs(two_runs)[-1]
    rebuilt = tmp_path / "rebuilt.csv"
    shutil.copyfile(newest / "summary.csv", rebuilt)
    later = (newest / "summary.csv").stat().st_mtime_ns + 1_000_000_000
    os.utime(rebuilt, ns=(later, later))
    config = changed(load_run(newest).config, **{"models.svm.params.C": 90.0})
    with caplog.at_level("INFO", logger="genrepipe"):
        entry = record_run(rebuilt, latest, config=config, repo=None)
    assert entry != newest and list_runs(two_runs)[-1] == entry
    assert load_run(entry).config["models"]["svm"]["params"]["C"] == 90.0
    assert latest.read_text(encoding="utf-8").strip() == entry.name
    assert [r.getMessage() for r in caplog.records] == [f"recorded this run in {entry}"]


def test_a_newest_entry_without_its_summary_does_not_stop_the_next_record(
    two_runs, tmp_path, caplog
):
    # Deleted by hand or half synced: filecmp raised, failing every later run's last job.
    newest = list_runs(two_runs)[-1]
    (newest / "summary.csv").unlink()
    summary = write_summary(tmp_path / "c.csv", {"gmm": 0.71, "svm": 0.80})
    with caplog.at_level("WARNING", logger="genrepipe"):
        entry = record_run(summary, two_runs / "latest.txt", config=BASE_CONFIG, repo=None)
    assert entry != newest and (entry / "summary.csv").read_bytes() == summary.read_bytes()
    assert f"{newest / 'summary.csv'}: cannot be read" in caplog.text


def test_folders_of_the_users_own_in_the_history_are_no_entries(two_runs, tmp_path, capsys):
    # An "old/" folder sorted after the dated entries: record_run took it for the newest
    # and failed on its missing summary.csv; genrepipe-compare --last 2 refused it.
    entries = list_runs(two_runs)
    assert len(entries) == 2
    (two_runs / "old").mkdir()
    (two_runs / "zz backup").mkdir()
    assert list_runs(two_runs) == entries
    newest = load_run(entries[-1])
    other = write_summary(tmp_path / "c.csv", {"gmm": 0.71, "svm": 0.80})
    entry = record_run(other, two_runs / "latest.txt", config=newest.config, repo=None)
    assert list_runs(two_runs) == [*entries, entry]
    # Two records of one second and config: the counted name is an entry too.
    again = record_run(
        write_summary(tmp_path / "d.csv", {"gmm": 0.5}),
        two_runs / "latest.txt",
        config=newest.config,
        repo=None,
        now=datetime.strptime(entry.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
    )
    assert again.name.endswith(".2") and list_runs(two_runs)[-1] == again
    assert main(["--history", str(two_runs), "--last", "2"]) == 0
    assert "genrepipe-compare: error" not in capsys.readouterr().err


def test_a_staging_folder_left_by_a_killed_record_is_no_entry(two_runs, tmp_path, capsys):
    # A record_run job killed while writing leaves ".<entry>.<random>.tmp" beside the
    # entries: taken for a run, genrepipe-compare failed on its missing files.
    entries = list_runs(two_runs)
    staging = two_runs / ".20250101T000000Z-abcd1234.tmp"
    staging.mkdir()
    write_summary(staging / "summary.csv", {"gmm": 0.1})  # half written: no run.json
    assert list_runs(two_runs) == entries
    assert main(["--history", str(two_runs)]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == [e.name for e in entries]
    # Alone in the history, it is no previous run for the next record to compare with.
    alone = tmp_path / "alone"
    shutil.copytree(staging, alone / staging.name)
    summary = write_summary(tmp_path / "s.csv", {"gmm": 0.5})
    entry = record_run(summary, alone / "latest.txt", config=BASE_CONFIG, repo=None)
    assert list_runs(alone) == [entry]


def test_flatten_config_gives_dotted_paths():
    flat = flatten_config(BASE_CONFIG)
    assert flat["models.svm.params.C"] == 1.0
    assert flat["dataset.synthetic.n_per_genre"] == 8
    assert flat["run_models"] == ["gmm", "svm"]  # lists stay values
    assert "models.svm" not in flat


def test_compare_shows_only_differing_settings_and_accuracy_changes(two_runs):
    runs = [load_run(path) for path in list_runs(two_runs)]
    table = compare_runs(runs)
    settings = [row for row in table.index if row not in ("date", "git")]
    assert settings == [
        "dataset.synthetic.n_per_genre",
        "models.svm.params.C",
        "test_accuracy.gmm",
        "test_accuracy.svm",
    ]
    assert list(table.loc["models.svm.params.C"]) == ["1.0", "10.0"]
    assert list(table.loc["test_accuracy.svm"]) == ["0.740", "0.800 (+0.060)"]
    assert list(table.loc["test_accuracy.gmm"]) == ["0.700", "0.680 (-0.020)"]


def test_compare_marks_settings_and_models_missing_from_a_run(tmp_path):
    latest = tmp_path / "h" / "latest.txt"
    config_b = changed(
        BASE_CONFIG,
        **{"models.svm_stats.estimator": "svm", "run_models": ["gmm", "svm", "svm_stats"]},
    )
    for i, (config, accuracies) in enumerate(
        [(BASE_CONFIG, {"gmm": 0.7}), (config_b, {"gmm": 0.7, "svm_stats": 0.9})]
    ):
        summary = write_summary(tmp_path / f"{i}.csv", accuracies)
        record_run(summary, latest, config=config, repo=None, now=datetime(2025, 1, 1 + i))
    table = compare_runs([load_run(p) for p in list_runs(latest.parent)])
    assert list(table.loc["models.svm_stats.estimator"]) == ["-", "svm"]
    assert list(table.loc["run_models"]) == ['["gmm", "svm"]', '["gmm", "svm", "svm_stats"]']
    assert list(table.loc["test_accuracy.svm_stats"]) == ["-", "0.900"]
    assert list(table.loc["test_accuracy.gmm"]) == ["0.700", "0.700 (+0.000)"]


def test_compare_command_text_csv_and_last(two_runs, capsys):
    assert main(["--history", str(two_runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [p.name for p in list_runs(two_runs)]
    assert lines[0].split() == names
    assert any(line.split()[:3] == ["models.svm.params.C", "1.0", "10.0"] for line in lines)
    assert any("0.800 (+0.060)" in line for line in lines)
    assert not any(line.startswith("seed") for line in lines)  # equal in both runs

    assert main(["--history", str(two_runs), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=0)
    assert list(table.columns) == names
    # For scripts: accuracies as numbers, no change in parentheses.
    assert [float(v) for v in table.loc["test_accuracy.svm"]] == [0.74, 0.8]

    assert main(["--history", str(two_runs), "--last", "1", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=0)
    assert list(table.columns) == names[-1:]
    assert list(table.index) == ["date", "git", "test_accuracy.gmm", "test_accuracy.svm"]

    # Runs named explicitly, by name inside --history or by path, in the order given.
    assert main(["--history", str(two_runs), names[1], str(two_runs / names[0])]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == [names[1], names[0]]


def test_compare_escapes_what_the_console_cannot_print(tmp_path, monkeypatch):
    """A run on GTZAN in a folder named in Cyrillic, compared into a file on Windows (a
    code page) or on an ASCII terminal (LC_ALL=C): genrepipe-compare stopped with a
    UnicodeEncodeError; it prints the name with backslash escapes instead."""
    latest = tmp_path / "history" / "latest.txt"
    for i, root in enumerate(["~/gtzan", "~/музыка/gtzan"]):
        config = changed(BASE_CONFIG, **{"dataset.kind": "gtzan", "dataset.gtzan.root": root})
        summary = write_summary(tmp_path / f"{i}.csv", {"svm": 0.7 + i / 10})
        record_run(
            summary, latest, config=config, repo=None, now=datetime(2025, 1, 2 + i, tzinfo=UTC)
        )
    console = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr("sys.stdout", console)
    assert main(["--history", str(latest.parent)]) == 0
    console.seek(0)
    assert "~/\\u043c\\u0443\\u0437\\u044b\\u043a\\u0430/gtzan" in console.read()


def test_compare_keeps_model_names_that_read_as_numbers(tmp_path, capsys):
    # Models "007" and "NA" (the config accepts both): read back as 7 and a missing value,
    # genrepipe-compare named their rows test_accuracy.7 and test_accuracy.nan.
    latest = tmp_path / "history" / "latest.txt"
    for i, accuracy in enumerate((0.5, 0.75)):
        summary = write_summary(tmp_path / f"{i}.csv", {"007": accuracy, "NA": 0.25})
        record_run(summary, latest, config=BASE_CONFIG, repo=None, now=datetime(2025, 1, 1 + i))
    assert main(["--history", str(latest.parent), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=0, keep_default_na=False)
    assert [float(v) for v in table.loc["test_accuracy.007"]] == [0.5, 0.75]
    assert [float(v) for v in table.loc["test_accuracy.NA"]] == [0.25, 0.25]


def test_compare_csv_gives_the_summarys_accuracies_unrounded(tmp_path, capsys):
    # 9 of 32 clips: rounded to 0.281 in the text table, a script reads 0.28125.
    latest = tmp_path / "history" / "latest.txt"
    for i, accuracy in enumerate((0.28125, 0.3125)):
        summary = write_summary(tmp_path / f"{i}.csv", {"gmm": accuracy})
        record_run(summary, latest, config=BASE_CONFIG, repo=None, now=datetime(2025, 1, 1 + i))
    assert main(["--history", str(latest.parent), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col=0)
    assert [float(v) for v in table.loc["test_accuracy.gmm"]] == [0.28125, 0.3125]
    assert main(["--history", str(latest.parent)]) == 0
    # Halves rounded up, as the figures round (31.3% in the accuracy chart): it read
    # 0.312 here, Python's half to even.
    assert "0.313 (+0.032)" in capsys.readouterr().out


def test_a_reader_closing_stdout_ends_quietly(two_runs):
    """`genrepipe-compare --all | head -n 1`: exit 141, no BrokenPipeError traceback."""
    import sys

    script = Path(sys.executable).parent / "genrepipe-compare"
    reader = subprocess.Popen(
        [str(script), "--history", str(two_runs), "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader.stdout.close()  # closed before the table is written: its first write fails
    stderr = reader.stderr.read()
    assert reader.wait(timeout=60) == 141
    assert stderr == ""


def test_compare_command_errors(tmp_path, capsys):
    assert main(["--history", str(tmp_path / "none")]) == 2
    assert "no recorded runs" in capsys.readouterr().err
    (tmp_path / "h" / "junk").mkdir(parents=True)
    assert main(["--history", str(tmp_path / "h"), "junk"]) == 2
    err = capsys.readouterr().err
    assert "junk" in err and "not a recorded run" in err and len(err.splitlines()) == 1
    assert main(["--history", str(tmp_path / "h"), "nope"]) == 2
    assert f"{tmp_path / 'h' / 'nope'}: no such recorded run" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("run.json", "{bad", "run.json: cannot be read (Expecting property name"),
        ("summary.csv", "", "summary.csv: cannot be read (No columns to parse"),
        ("summary.csv", "model,accuracy\nsvm,0.5\n", "summary.csv: no column test_accuracy"),
        ("config.yaml", "a: [", "config.yaml: cannot be read ("),
        # Parsed, yet no settings: a traceback from deep in the comparison before.
        ("config.yaml", "oops", "config.yaml: cannot be read (a str, not a mapping"),
        ("run.json", "[]", "run.json: cannot be read (a list, not a mapping"),
        (
            "summary.csv",
            "model,test_accuracy\nsvm,0.6\ngmm,n/a\n",
            "summary.csv: test_accuracy holds 'n/a', not numbers",
        ),
    ],
)
def test_a_damaged_entry_names_its_file(two_runs, name, text, reason, capsys):
    entry = list_runs(two_runs)[0]
    (entry / name).write_text(text, encoding="utf-8")
    assert main(["--history", str(two_runs)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"{entry / name.split('.')[0]}" in line and reason in line


def test_a_model_without_accuracy_in_the_first_run_shows_the_later_value(tmp_path, capsys):
    # A model whose first run gave no test accuracy (an empty cell, NaN when read):
    # no change can be computed against it, so the later value is shown alone.
    latest = tmp_path / "h" / "latest.txt"
    first = tmp_path / "a.csv"
    first.write_text("model,test_accuracy\ngmm,\nsvm,0.74\n", encoding="utf-8")
    second = write_summary(tmp_path / "b.csv", {"gmm": 0.7, "svm": 0.75})
    for i, summary in enumerate((first, second)):
        record_run(summary, latest, config=BASE_CONFIG, repo=None, now=datetime(2025, 1, 1 + i))
    table = compare_runs([load_run(p) for p in list_runs(latest.parent)])
    assert list(table.loc["test_accuracy.gmm"]) == [ABSENT, "0.700"]
    assert list(table.loc["test_accuracy.svm"]) == ["0.740", "0.750 (+0.010)"]
    assert main(["--history", str(latest.parent)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if "accuracy.gmm" in line]
    assert row.split() == ["test_accuracy.gmm", ABSENT, "0.700"]


def test_changes_are_those_of_the_values_shown(tmp_path):
    latest = tmp_path / "h" / "latest.txt"
    for i, accuracy in enumerate((0.8124, 0.8126)):
        summary = write_summary(tmp_path / f"{i}.csv", {"svm": accuracy})
        config = changed(BASE_CONFIG, seed=i)
        record_run(summary, latest, config=config, repo=None, now=datetime(2025, 1, 1 + i))
    table = compare_runs([load_run(p) for p in list_runs(latest.parent)])
    assert list(table.loc["test_accuracy.svm"]) == ["0.812", "0.813 (+0.001)"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_revision_and_dirty_flag(tmp_path):
    assert git_revision(tmp_path) == ("unknown", None)  # not a repository

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n", encoding="utf-8")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "one")
    revision, dirty = git_revision(tmp_path)
    assert len(revision) == 40 and dirty is False
    (tmp_path / "untracked.txt").write_text("not code\n", encoding="utf-8")
    assert git_revision(tmp_path) == (revision, False)  # untracked files do not count
    (tmp_path / "code.py").write_text("x = 2\n", encoding="utf-8")
    assert git_revision(tmp_path) == (revision, True)

    latest = tmp_path / "results" / "history" / "latest.txt"
    summary = write_summary(tmp_path / "s.csv", {"gmm": 0.5})
    entry = record_run(summary, latest, config=BASE_CONFIG, repo=tmp_path)
    info = json.loads((entry / "run.json").read_text(encoding="utf-8"))
    assert info["git_revision"] == revision and info["git_dirty"] is True
    assert yaml.safe_load((entry / "config.yaml").read_text(encoding="utf-8")) == BASE_CONFIG


def test_settings_a_run_did_not_use_are_left_out_unless_asked(tmp_path):
    """A model defined but not run, or a feature set not extracted, does not show as a change."""
    latest = tmp_path / "h" / "latest.txt"
    config_b = changed(
        BASE_CONFIG,
        **{
            "models.unused.estimator": "svm",  # defined, not in run_models
            "models.gmm.params.n_components": 3,  # used
            "features.rich.window": 2.0,  # settings of a set nobody extracts
            "features.stats.n_mfcc": 13,  # an extracted set
        },
    )
    for i, config in enumerate([BASE_CONFIG, config_b]):
        summary = write_summary(tmp_path / f"{i}.csv", {"gmm": 0.7 + 0.01 * i})
        record_run(summary, latest, config=config, repo=None, now=datetime(2025, 2, 1 + i))
    runs = [load_run(p) for p in list_runs(latest.parent)]
    shown = set(compare_runs(runs).index) - {"date", "git", "test_accuracy.gmm"}
    assert shown == {"models.gmm.params.n_components", "features.stats.n_mfcc"}
    everything = set(compare_runs(runs, every_setting=True).index)
    assert {"models.unused.estimator", "features.rich.window"} <= everything
    # A CNN head's base network is used by it though not in run_models: its settings count.
    head = {
        "run_models": ["cnn_svm"],
        "models": {
            "cnn_svm": {"estimator": "cnn_svm", "base": "cnn_logmel", "params": {"C": 1.0}},
            "cnn_logmel": {"estimator": "cnn_windows", "params": {"epochs": 20}},
        },
        "features": {"sets": ["logmel"]},
    }
    latest = tmp_path / "heads" / "latest.txt"
    longer = changed(head, **{"models.cnn_logmel.params.epochs": 40})
    for i, config in enumerate([head, longer]):
        summary = write_summary(tmp_path / f"head{i}.csv", {"cnn_svm": 0.7 + 0.01 * i})
        record_run(summary, latest, config=config, repo=None, now=datetime(2025, 3, 1 + i))
    table = compare_runs([load_run(p) for p in list_runs(latest.parent)])
    assert "models.cnn_logmel.params.epochs" in table.index
    assert list(table.loc["models.cnn_logmel.params.epochs"]) == ["20", "40"]


def test_settings_of_a_model_named_with_a_dot_are_those_of_that_model(tmp_path):
    """svm_c0.5 is a valid model name: its settings were read as those of a model
    'svm_c0', not run, and left out, so its accuracy changed with no setting shown."""
    config = {
        "run_models": ["svm.rbf"],
        "models": {
            "svm.rbf": {"estimator": "svm", "params": {"C": 1.0}},
            "svm": {"estimator": "svm", "params": {"C": 1.0}},  # defined, not run
        },
    }
    latest = tmp_path / "h" / "latest.txt"
    later = json.loads(json.dumps(config))
    later["models"]["svm.rbf"]["params"]["C"] = 10.0
    later["models"]["svm"]["params"]["C"] = 5.0
    for i, run_config in enumerate([config, later]):
        summary = write_summary(tmp_path / f"{i}.csv", {"svm.rbf": 0.5 + 0.2 * i})
        record_run(summary, latest, config=run_config, repo=None, now=datetime(2025, 4, 1 + i))
    table = compare_runs([load_run(p) for p in list_runs(latest.parent)])
    assert list(table.loc["models.svm.rbf.params.C"]) == ["1.0", "10.0"]
    assert "models.svm.params.C" not in table.index
