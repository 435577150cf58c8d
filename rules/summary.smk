# One comparison table: a row per model, the reference study's accuracy beside it.


rule summarize_results:
    input:
        metrics=expand("results/metrics/{model}/{scheme}.json", model=RUN_MODELS, scheme=SCHEME),
        split_report=f"results/splits/{SCHEME}.json",
    output:
        summary=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    params:
        models=RUN_MODELS,
        features=[model_features(model) for model in RUN_MODELS],
        references=[config["models"][model].get("reference_test_accuracy") for model in RUN_MODELS],
        dataset=config["dataset"]["kind"],
        scheme=SCHEME,
    log:
        "logs/summarize_results.log",
    benchmark:
        "benchmarks/summarize_results.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/summarize_results.py"
