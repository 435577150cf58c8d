"""Rule plot_results: the figures of the HTML report."""

from genrepipe.log import log_to_file
from genrepipe.plots import plot_results

log_to_file(snakemake.log[0])
plot_results(
    snakemake.input.summary,
    snakemake.input.per_genre,
    snakemake.params.models,
    snakemake.input.features,
    snakemake.output.accuracy,
    snakemake.output.f1,
    snakemake.output.feature_map,
    snakemake.output.summary,
    feature_set=snakemake.params.feature_set,
    seed=snakemake.params.seed,
    metrics_files=snakemake.input.metrics,
)
