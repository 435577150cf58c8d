"""Rule list_tracks: the usable tracks."""

from genrepipe.log import log_to_file
from genrepipe.tasks import list_tracks

log_to_file(snakemake.log[0])
list_tracks(snakemake.input, snakemake.output[0])
