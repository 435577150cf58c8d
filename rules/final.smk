# The models handed out: each run model refitted on every usable track (every
# listed one with the `lists` split), preprocessing too, with a model card giving
# the accuracy the fold models measured on held-out tracks. Switched by
# `final_models` in the config.

# The run models and the models they build on (an ensemble's members, a CNN head's
# base): each has a final bundle, so each gets its card, not only the run models.
FINAL_MODELS = models_in_use(config)
# Ensembles fit nothing: their final bundle holds their members' final bundles.
ENSEMBLES = [name for name, spec in config["models"].items() if spec["estimator"] == ENSEMBLE]


# Preprocessing fitted on the final models' tracks, once for every final model that
# reads it (as a fold's is for its fold models).
rule fit_final_preprocessing:
    input:
        unpack(final_tracks),
        features="results/features/{feature_set}.parquet",
        tracks="results/tracks.tsv",
    output:
        transform="results/preprocessed/{feature_set}-{preprocessing}/final/transform.skops",
        features="results/preprocessed/{feature_set}-{preprocessing}/final/features.parquet",
    params:
        preprocessing=lambda wildcards: wildcards.preprocessing,
        pca_components=lambda wildcards: pca_components(wildcards.preprocessing),
    threads: 1  # one BLAS thread, whatever the cores: see fit_transform_features
    resources:
        mem_mb=preprocessing_memory,
    log:
        "logs/fit_final_preprocessing/{feature_set}-{preprocessing}.log",
    benchmark:
        "benchmarks/fit_final_preprocessing/{feature_set}-{preprocessing}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/fit_final_preprocessing.py"


rule train_final_model:
    input:
        unpack(final_base),
        unpack(final_tracks),
        unpack(final_epochs),
        unpack(final_features),
        tracks="results/tracks.tsv",
    output:
        model=directory("results/final/{model}/model"),
    wildcard_constraints:
        model=names_pattern([m for m in config["models"] if m not in ENSEMBLES]),
    params:
        spec=lambda wildcards: model_spec(wildcards.model),
        feature_settings=lambda wildcards: model_feature_settings(wildcards.model),
        fit=lambda wildcards: fit_settings(wildcards.model),  # mappings: see train_model
        audio=AUDIO_SETTINGS,
    threads: training_threads
    priority: 1  # as train_model's
    resources:
        mem_mb=training_memory,
        gpu=gpu_request,
    log:
        "logs/train_final_model/{model}.log",
    benchmark:
        "benchmarks/train_final_model/{model}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/train_final_model.py"


rule combine_final_ensemble:
    input:
        members=lambda wildcards: expand(
            "results/final/{member}/model", member=config["models"][wildcards.model]["members"]
        ),
    output:
        model=directory("results/final/{model}/model"),
    wildcard_constraints:
        model=names_pattern(ENSEMBLES),
    params:
        members=lambda wildcards: list(config["models"][wildcards.model]["members"]),
    log:
        "logs/combine_final_ensemble/{model}.log",
    benchmark:
        "benchmarks/combine_final_ensemble/{model}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/combine_final_ensemble.py"


rule write_model_card:
    input:
        model="results/final/{model}/model",
        metrics=f"results/metrics/{{model}}/{SCHEME}.json",
    output:
        card="results/final/{model}/card.json",
    params:
        model=lambda wildcards: wildcards.model,
        spec=lambda wildcards: model_spec(wildcards.model),
        dataset=(
            {"kind": config["dataset"]["kind"]}
            | (config["dataset"].get(config["dataset"]["kind"]) or {})
        ),
        scheme=SCHEME,
    log:
        "logs/write_model_card/{model}.log",
    benchmark:
        "benchmarks/write_model_card/{model}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/write_model_card.py"

