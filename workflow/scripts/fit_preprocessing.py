"""Rule fit_preprocessing: scaler (and PCA) fitted on one fold's training rows."""

from genrepipe.log import log_to_file
from genrepipe.tasks import fit_preprocessing

log_to_file(snakemake.log[0])
fit_preprocessing(
    snakemake.input.features,
    snakemake.input.split,
    snakemake.params.fold,
    snakemake.params.preprocessing,
    snakemake.output.transform,
    snakemake.output.features,
    pca_components=snakemake.params.pca_components,
)
