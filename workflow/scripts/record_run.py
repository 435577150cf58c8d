"""Rule record_run: add this run to results/history for genrepipe-compare."""

from genrepipe.history import record_run
from genrepipe.log import log_to_file

logger = log_to_file(snakemake.log[0])
entry = record_run(
    snakemake.input.summary,
    snakemake.output.latest,
    config=snakemake.params.config,
    repo=snakemake.params.repo,
)
logger.info("recorded this run in %s", entry)
