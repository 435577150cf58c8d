"""Rule merge_features: stream the per-track files of a feature set into parquet."""

from genrepipe.log import log_to_file
from genrepipe.tasks import merge_features

log_to_file(snakemake.log[0])
merge_features(
    snakemake.wildcards.feature_set,
    snakemake.params.settings,
    snakemake.input.features,
    snakemake.params.tracks,
    snakemake.params.genres,
    snakemake.output.table,
    snakemake.output.failed,
    reports=snakemake.input.reports,
    usable_tracks=snakemake.input.usable,
)
