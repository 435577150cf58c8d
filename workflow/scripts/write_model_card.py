"""Rule write_model_card: the card of a final model, with its held-out accuracy."""

from genrepipe.log import log_to_file
from genrepipe.tasks import write_model_card

log_to_file(snakemake.log[0])
write_model_card(
    snakemake.input.model,
    snakemake.input.metrics,
    snakemake.output.card,
    model=snakemake.params.model,
    spec=snakemake.params.spec,
    dataset=snakemake.params.dataset,
    scheme=snakemake.params.scheme,
)
