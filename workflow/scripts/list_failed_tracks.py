"""Rule list_failed_tracks: the failed clips and skipped files, with their reasons."""

from genrepipe.log import log_to_file
from genrepipe.tasks import list_failed_tracks

log_to_file(snakemake.log[0])
list_failed_tracks(snakemake.input, snakemake.params.skipped, snakemake.output[0])
