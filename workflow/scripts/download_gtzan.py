"""Rule download_gtzan: fetch, verify and unpack the GTZAN archive."""

from genrepipe.log import log_to_file
from genrepipe.tasks import download_dataset

log_to_file(snakemake.log[0])
download_dataset(
    snakemake.params.url, snakemake.params.md5, snakemake.params.folder, snakemake.output.record
)
