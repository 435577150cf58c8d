# Which tracks train and which test, per fold: one table for the configured scheme.


rule make_split:
    input:
        tracks="results/tracks.tsv",
        lists=split_list_files,
    output:
        split="results/splits/{scheme}.tsv",
        report="results/splits/{scheme}.json",
    params:
        settings=lambda wildcards: config["split"].get(wildcards.scheme) or {},
    log:
        "logs/make_split/{scheme}.log",
    benchmark:
        "benchmarks/make_split/{scheme}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/make_split.py"
