# Per fold: preprocessing fitted on training rows only (shared by every model
# that reads it), then one training job per model, so models train in parallel.


rule fit_preprocessing:
    input:
        features="results/features/{feature_set}.parquet",
        split="results/splits/{scheme}.tsv",
    output:
        transform="results/preprocessed/{feature_set}-{preprocessing}/{scheme}/fold{fold}/transform.skops",
        features="results/preprocessed/{feature_set}-{preprocessing}/{scheme}/fold{fold}/features.parquet",
    params:
        fold=lambda wildcards: int(wildcards.fold),
        preprocessing=lambda wildcards: wildcards.preprocessing,
        pca_components=lambda wildcards: pca_components(wildcards.preprocessing),
    threads: 1  # one BLAS thread, whatever the cores: see fit_transform_features
    resources:
        mem_mb=preprocessing_memory,
    log:
        "logs/fit_preprocessing/{feature_set}-{preprocessing}/{scheme}/fold{fold}.log",
    benchmark:
        "benchmarks/fit_preprocessing/{feature_set}-{preprocessing}/{scheme}/fold{fold}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/fit_preprocessing.py"


rule train_model:
    input:
        unpack(training_inputs),
    output:
        model=directory("results/models/{model}/{scheme}/fold{fold}/model"),
        predictions="results/models/{model}/{scheme}/fold{fold}/predictions.tsv",
    params:
        spec=lambda wildcards: model_spec(wildcards.model),
        feature_settings=lambda wildcards: model_feature_settings(wildcards.model),
        # Snakemake compares a job's params as a set of values, names left out: bare
        # numbers traded places unnoticed (seed 0 -> 1 on fold 0 with one thread kept
        # {0, 1}, and the model), so numbers go in mappings, which name them.
        fit=lambda wildcards: fit_settings(wildcards.model),
        # Recorded in the bundle's card: genrepipe-predict reads audio the same way.
        audio=AUDIO_SETTINGS,
    threads: training_threads
    # Training before the extractions and small jobs also ready: the CNNs, whose inputs
    # (a merged feature table) are ready first, train for minutes where every other job
    # takes seconds, and started after those they ended the run alone. (A number: a
    # function per model needs Snakemake 9.17.)
    priority: 1
    resources:
        mem_mb=training_memory,
        gpu=gpu_request,
    log:
        "logs/train_model/{model}/{scheme}/fold{fold}.log",
    benchmark:
        "benchmarks/train_model/{model}/{scheme}/fold{fold}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/train_model.py"
