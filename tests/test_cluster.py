"""Distributed execution: the whole tiny workflow with every job submitted to a "cluster".

Snakemake's cluster-generic executor hands each job (or group of per-batch jobs) to
tests/cluster/submit.sh, which starts the job script as a separate, detached
background process and logs the submission; tests/cluster/status.sh reports when it
ends. The summary must equal that of an ordinary local run (marked slow; CI runs it).
Two of the tiny run's models go through the cluster, a PCA model and a segment model,
with only the feature sets they read and no final models: every job pays a process
start of its own, and the Keras models and final bundles add no kind of job a cluster
would treat differently.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import PROJECT_ROOT, TINY_CONFIG, run_workflow

pytestmark = pytest.mark.slow

CLUSTER_SCRIPTS = PROJECT_ROOT / "tests" / "cluster"
CLUSTER_MODELS = ["gmm", "svm_segments"]
SUBMITTED = re.compile(r"Submitted (group job|job) (\S+) with external jobid '([^']+)'")
#: A job of a `localrules` rule, run by Snakemake itself (a dry run lists it as `rule`).
LOCAL_JOB = re.compile(r"^localrule (\S+):$", flags=re.MULTILINE)


def cluster_args(spool: Path) -> list[str]:
    """Snakemake options that send every job through the local submit script."""
    submit = f"{shlex.quote(str(CLUSTER_SCRIPTS / 'submit.sh'))} {shlex.quote(str(spool))}"
    status = f"{shlex.quote(str(CLUSTER_SCRIPTS / 'status.sh'))} {shlex.quote(str(spool))}"
    return [
        "--executor",
        "cluster-generic",
        "--cluster-generic-submit-cmd",
        submit,
        "--cluster-generic-status-cmd",
        status,
        "--jobs",
        "2",
        "--latency-wait",
        "10",
        "--seconds-between-status-checks",
        "1",
    ]


def run_on_cluster(workdir: Path, spool: Path, *extra: str) -> subprocess.CompletedProcess:
    models = workdir / "cluster_models.yaml"
    # Only what the two models read; final models are the same kind of job as the folds'.
    settings = {"run_models": CLUSTER_MODELS, "features": {"sets": []}, "final_models": False}
    models.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return run_workflow(
        workdir, TINY_CONFIG, models, extra=[*cluster_args(spool), *extra], cores=None
    )


def planned_cluster_jobs(output: str) -> int:
    """Jobs a dry run plans: group jobs, plus the jobs outside groups.

    Jobs inside a group are listed indented under its header; ``all`` only names
    targets (it has nothing to run), so it is never submitted. The jobs of
    ``localrules`` are counted too: a dry run does not tell them apart.
    """
    groups = re.findall(r"^\S.*Group job \S+ \(jobs in", output, flags=re.MULTILINE)
    singles = re.findall(r"^rule (\S+):$", output, flags=re.MULTILINE)
    return len(groups) + len([rule for rule in singles if rule != "all"])


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory) -> tuple[Path, Path, str, int]:
    """The tiny workflow through the submit script: workdir, spool, output, planned jobs."""
    workdir = tmp_path_factory.mktemp("cluster")
    spool = workdir / "cluster-jobs"
    plan = run_on_cluster(workdir, spool, "--dry-run")
    planned = planned_cluster_jobs(plan.stdout + plan.stderr)
    assert not spool.exists(), "a dry run submitted jobs"
    result = run_on_cluster(workdir, spool)
    return workdir, spool, result.stdout + result.stderr, planned


def test_cluster_run_gives_the_summary_of_a_local_run(cluster_run, tiny_run):
    workdir, *_ = cluster_run
    local = pd.read_csv(tiny_run / "results" / "summary.csv").drop(columns="fit_seconds")
    local = local[local["model"].isin(CLUSTER_MODELS)].reset_index(drop=True)
    cluster = pd.read_csv(workdir / "results" / "summary.csv").drop(columns="fit_seconds")
    assert list(cluster["model"]) == CLUSTER_MODELS
    pd.testing.assert_frame_equal(cluster, local)


def test_every_job_was_submitted_through_the_script(cluster_run):
    workdir, spool, output, planned = cluster_run
    submitted = pd.read_csv(
        spool / "submitted.tsv", sep="\t", header=None, names=["id", "pid", "time"], dtype=str
    )
    reported = SUBMITTED.findall(output)
    # Bookkeeping ran where Snakemake runs, not as cluster jobs (no queue wait for seconds).
    local = [rule for rule in LOCAL_JOB.findall(output) if rule != "all"]
    assert {
        "list_tracks",
        "list_failed_tracks",
        "make_split",
        "evaluate_model",
        "summarize_results",
    } <= set(local)
    assert "train_model" not in local
    # One submission per cluster job Snakemake reported, and as many as the plan had.
    assert sorted(submitted["id"]) == sorted(jobid for _, _, jobid in reported)
    assert len(submitted) == planned - len(local)
    kinds = {kind for kind, _, _ in reported}
    assert kinds == {"job", "group job"}  # per-batch jobs went as groups, the others alone
    # Each ran as its own process, and ended successfully.
    assert submitted["pid"].is_unique
    for job in submitted["id"]:
        assert (spool / f"{job}.exit").read_text(encoding="utf-8").strip() == "0", (
            spool / f"{job}.log"
        )
    # Every job of the workflow ran: nothing is left to do.
    plan = run_on_cluster(workdir, spool, "--dry-run")
    assert "Nothing to be done" in plan.stdout + plan.stderr
    assert len(pd.read_csv(spool / "submitted.tsv", sep="\t", header=None)) == len(submitted)
