"""Rule download_gtzan: fetch, verify and unpack the GTZAN archive."""

from pathlib import Path

from genrepipe.log import log_to_file
from genrepipe.tasks import download_dataset

log_to_file(snakemake.log[0])
record = Path(snakemake.output.record)
# The record lies inside the genres folder it vouches for.
download_dataset(snakemake.params.url, snakemake.params.md5, record.parent, record)
