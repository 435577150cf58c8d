# Per model: accuracy with its uncertainty, per-genre scores and the confusion
# matrix, from the predictions of every fold.


rule evaluate_model:
    input:
        predictions=expand(
            "results/models/{{model}}/{{scheme}}/fold{fold}/predictions.tsv", fold=FOLDS
        ),
        models=expand("results/models/{{model}}/{{scheme}}/fold{fold}/model", fold=FOLDS),
    output:
        metrics="results/metrics/{model}/{scheme}.json",
        per_genre="results/metrics/{model}/{scheme}_per_genre.csv",
        confusion="results/metrics/{model}/{scheme}_confusion.csv",
        confusion_plot=report(
            "results/metrics/{model}/{scheme}_confusion.png",
            caption="../report/confusion.rst",
            category="Confusion matrices",
            # One file name for every model: the labels tell them apart in the list.
            labels={"model": "{model}", "split": "{scheme}"},
        ),
    params:
        # Named in the confusion matrix's title: a figure shown alone says what it counts.
        dataset=config["dataset"]["kind"],
    log:
        "logs/evaluate_model/{model}/{scheme}.log",
    benchmark:
        "benchmarks/evaluate_model/{model}/{scheme}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/evaluate_model.py"
