# A record of each completed run under results/history/<UTC time>-<config hash>/
# (summary, resolved config, git revision, digests of the track list and split), for
# `genrepipe-compare`. Its inputs are the summary and those two tables, so it runs
# when one was (re)built or the config changed; a summary equal to the newest
# entry's adds no entry.


rule record_run:
    input:
        summary="results/summary.csv",
        # What the results depend on beyond the config (a split's list files, the
        # clips found): their digests go into the record.
        tracks="results/tracks.tsv",
        split=f"results/splits/{SCHEME}.tsv",
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
