# Figures of the HTML report (`snakemake --report results/report.html`): test
# accuracies with their intervals, per-genre F1, and a map of the tracks.

from genrepipe.config import map_feature_set

# The feature set drawn on the map of tracks: stats if extracted, else seed87, rich or
# segment_stats (the first of them extracted), else the first extracted set by name.
MAP_FEATURE_SET = map_feature_set(
    config["features"]["sets"],
    [feature_set for model in RUN_MODELS for feature_set in model_feature_sets(config, model)],
)


rule plot_results:
    input:
        summary="results/summary.csv",
        per_genre=expand(
            "results/metrics/{model}/{scheme}_per_genre.csv", model=RUN_MODELS, scheme=SCHEME
        ),
        metrics=expand("results/metrics/{model}/{scheme}.json", model=RUN_MODELS, scheme=SCHEME),
        features=f"results/features/{MAP_FEATURE_SET}.parquet",
    output:
        accuracy=report(
            "results/plots/accuracy.png",
            caption="../report/accuracy.rst",
            category="Summary",
        ),
        f1=report(
            "results/plots/per_genre_f1.png",
            caption="../report/per_genre_f1.rst",
            category="Summary",
        ),
        feature_map=report(
            "results/plots/feature_map.png",
            caption="../report/feature_map.rst",
            category="Dataset",
        ),
        summary=report(
            "results/plots/summary.html",
            caption="../report/summary_table.rst",
            category="Summary",
        ),
    params:
        models=RUN_MODELS,
        feature_set=MAP_FEATURE_SET,
        seed=config["seed"],
    resources:
        # its map holds that set whole
        mem_mb=lambda wildcards, attempt: feature_set_memory(MAP_FEATURE_SET, attempt),
    log:
        "logs/plot_results.log",
    benchmark:
        "benchmarks/plot_results.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/plot_results.py"
