"""Rule list_tracks: the usable tracks, and the failed ones with their reasons."""

from genrepipe.log import log_to_file
from genrepipe.tasks import list_tracks

log_to_file(snakemake.log[0])
list_tracks(
    snakemake.input, snakemake.params.skipped, snakemake.output.tracks, snakemake.output.failed
)
