"""Rule record_run: add this run to results/history for genrepipe-compare."""

from pathlib import Path

from genrepipe.history import record_run
from genrepipe.log import log_to_file

log_to_file(snakemake.log[0])
record_run(
    snakemake.input.summary,
    snakemake.output.latest,
    config=snakemake.config,
    repo=Path(snakemake.scriptdir).parents[1],  # workflow/scripts/ -> the checkout
    inputs={"tracks": snakemake.input.tracks, "split": snakemake.input.split},
)
