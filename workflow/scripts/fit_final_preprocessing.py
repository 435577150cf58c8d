"""Rule fit_final_preprocessing: scaler (and PCA) fitted on the final models' tracks."""

from genrepipe.log import log_to_file
from genrepipe.tasks import fit_final_preprocessing

log_to_file(snakemake.log[0])
fit_final_preprocessing(
    snakemake.input.features,
    snakemake.input.tracks,
    snakemake.params.preprocessing,
    snakemake.output.transform,
    snakemake.output.features,
    pca_components=snakemake.params.pca_components,
    lists_split_table=snakemake.input.get("lists_split"),
)
