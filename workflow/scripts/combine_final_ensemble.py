"""Rule combine_final_ensemble: an ensemble's final bundle from its members' final bundles."""

from genrepipe.log import log_to_file
from genrepipe.tasks import combine_final_ensemble

log_to_file(snakemake.log[0])
combine_final_ensemble(snakemake.input.members, snakemake.params.members, snakemake.output.model)
