# Music genre recognition on GTZAN: from audio to results/summary.csv.
#
#   snakemake --cores 8            run everything on the configured dataset
#   snakemake --cores 8 -n         show what would run, and why
#
# Settings: config/config.yaml (checked against config/schema.yaml).

import os
import sys

from snakemake.utils import min_version

# The oldest release the test suite passes with; older ones tried each broke something
# it relies on (README, "Dependency versions"): a changed setting reran nothing (9.1.3),
# grouped cluster jobs failed (9.9.0), jobs went unscheduled without a system cbc (9.11.0).
min_version("9.11.3")


# The workflow runs its own checkout's package: src/ leads the path of this process
# (the rule files import genrepipe) and, through PYTHONPATH, of every job, ahead of any
# other installed genrepipe. A `--sdm conda` job, whose PYTHONPATH Snakemake clears,
# finds it at the end of the search path Snakemake hands its scripts, which holds this
# process's (the environment holds only the dependencies).
_PACKAGE_SOURCE = os.path.join(workflow.basedir, "src")
sys.path.insert(0, _PACKAGE_SOURCE)
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [_PACKAGE_SOURCE, os.environ.get("PYTHONPATH")]))
)


# The defaults travel with the workflow, so it also runs from another working
# directory (snakemake --directory DIR); --configfile FILE overrides them.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# snakemake --report results/report.html: one self-contained HTML file.
report: "report/workflow.rst"


include: "rules/common.smk"
wildcard_constraints:
    feature_set="|".join(FEATURE_SETS),
    preprocessing="pca|scaled",
    # The configured split only: another scheme's files were planned with its folds
    # (a kfold metrics file of one fold under a holdout config, silently), and a fold
    # it lacks failed only when its preprocessing read the split table.
    scheme=SCHEME,
    fold=names_pattern(map(str, FOLDS)),
    model=names_pattern(config["models"]),
    batch=r"batch\d+",


include: "rules/dataset.smk"
include: "rules/features.smk"
include: "rules/split.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/summary.smk"
include: "rules/final.smk"
include: "rules/history.smk"
include: "rules/report.smk"


# On a cluster these run where Snakemake runs, not as cluster jobs: each takes
# seconds on small tables (a queue wait would cost more), and compute nodes often
# have no internet for the download.
localrules:
    all,
    download_gtzan,
    list_tracks,
    list_failed_tracks,
    make_split,
    evaluate_model,
    summarize_results,
    write_model_card,
    combine_final_ensemble,
    record_run,


rule all:
    input:
        run_outputs(),
