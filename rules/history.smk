# A record of each completed run under results/history/<UTC time>-<config hash>/
# (summary, resolved config, git revision), for `genrepipe-compare`. Its input is
# the summary, so it runs when the summary was (re)built or the config changed; a
# summary equal to the newest entry's adds no entry.


rule record_run:
    input:
        summary="results/summary.csv",
    output:
        latest="results/history/latest.txt",
    params:
        # The config itself reaches the script as snakemake.config; its hash reruns the
        # job when any setting changes, and a dry run names two hashes, not two whole
        # configs on one line. Not the checkout's path (the script finds it): moving
        # the project reruns nothing.
        config_hash=config_hash(config),
    log:
        "logs/record_run.log",
    benchmark:
        "benchmarks/record_run.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/record_run.py"
