"""Rule evaluate_model: metrics, per-genre scores and confusion matrix of one model."""

from genrepipe.log import log_to_file
from genrepipe.tasks import evaluate_model

log_to_file(snakemake.log[0])
evaluate_model(
    snakemake.input.predictions,
    snakemake.input.models,
    snakemake.output.metrics,
    snakemake.output.per_genre,
    snakemake.output.confusion,
    snakemake.output.confusion_plot,
    title=(
        f"{snakemake.wildcards.model} "
        f"({snakemake.params.dataset} data, {snakemake.wildcards.scheme} split)"
    ),
)
