"""Rule check_audio_*: decode a batch of clips and record which ones are usable."""

from genrepipe.log import log_to_file
from genrepipe.tasks import check_audio

log_to_file(snakemake.log[0])
check_audio(
    snakemake.input,
    snakemake.params.tracks,
    snakemake.params.genres,
    snakemake.output[0],
    sr=snakemake.params.sample_rate,
    min_duration=snakemake.params.min_duration,
    max_duration=snakemake.params.max_duration,
    min_samples=snakemake.params.min_samples,
)
