"""Rule summarize_results: the comparison table, results/summary.csv."""

from genrepipe.log import log_to_file
from genrepipe.tasks import summarize_results

log_to_file(snakemake.log[0])
summarize_results(
    snakemake.input.metrics,
    snakemake.params.models,
    snakemake.params.features,
    snakemake.params.references,
    snakemake.output.summary,
    split_report=snakemake.input.split_report,
    dataset=snakemake.params.dataset,
    scheme=snakemake.params.scheme,
)
