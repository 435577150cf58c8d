"""Rule generate_synthetic_*: write one batch of the generated dataset."""

from genrepipe.log import log_to_file
from genrepipe.tasks import generate_synthetic

log_to_file(snakemake.log[0])
generate_synthetic(
    snakemake.output,
    snakemake.params.genres,
    snakemake.params.indices,
    duration=snakemake.params.duration,
    seed=snakemake.params.seed,
    sr=snakemake.params.sample_rate,
)
