"""Rule make_split: assign the usable tracks to folds and subsets."""

from genrepipe.log import log_to_file
from genrepipe.tasks import make_split

log_to_file(snakemake.log[0])
make_split(
    snakemake.wildcards.scheme,
    snakemake.params.settings,
    snakemake.input.tracks,
    snakemake.output.split,
    snakemake.output.report,
)
