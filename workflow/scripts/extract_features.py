"""Rule extract_features_*: one feature set for a batch of tracks, one .npy per track."""

from genrepipe.extraction import extract_features
from genrepipe.log import log_to_file

log_to_file(snakemake.log[0])
extract_features(
    snakemake.wildcards.feature_set,
    snakemake.params.settings,
    snakemake.input,
    snakemake.params.tracks,
    snakemake.output.features,
    snakemake.output.report,
    sr=snakemake.params.sample_rate,
    max_duration=snakemake.params.max_duration,
    librosa_release=snakemake.params.libraries["librosa"],
)
