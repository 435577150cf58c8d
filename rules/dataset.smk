# The audio: the generated default dataset, the optional GTZAN download, and a
# check of every clip (decodable, long enough) that lists the tracks to use.


if config["dataset"]["kind"] == "synthetic":
    # One generation job per extraction batch: adding clips generates the new ones, and
    # at most the clips of one neighbouring batch again (assign_batches merges a sparse
    # block into the one before it).
    for _batch, _tracks in BATCHES.items():

        rule:
            name:
                f"generate_synthetic_{_batch}"
            output:
                [track.path for track in _tracks],
            params:
                genres=[track.genre for track in _tracks],
                indices=[int(track.track.rsplit(".", 1)[1]) for track in _tracks],
                duration=config["dataset"]["synthetic"]["duration"],
                seed=config["dataset"]["synthetic"]["seed"],
                sample_rate=config["audio"]["sample_rate"],
            log:
                f"logs/generate_synthetic/{_batch}.log",
            benchmark:
                f"benchmarks/generate_synthetic/{_batch}.tsv"
            conda:
                "../envs/genrepipe.yaml"
            script:
                "../workflow/scripts/generate_synthetic.py"


for _batch, _tracks in BATCHES.items():

    rule:
        name:
            f"check_audio_{_batch}"
        input:
            [track.path for track in _tracks],
        output:
            f"results/tracks/{_batch}.tsv",
        params:
            tracks=[track.track for track in _tracks],
            genres=[track.genre for track in _tracks],
            sample_rate=config["audio"]["sample_rate"],
            min_duration=config["dataset"]["min_duration"],
            max_duration=config["dataset"]["max_duration"],
            min_samples=window_check_samples(config),
        log:
            f"logs/check_audio/{_batch}.log",
        benchmark:
            f"benchmarks/check_audio/{_batch}.tsv"
        group:
            "tracks"  # no job of its batch reads its output: a profile packs N such jobs
        conda:
            "../envs/genrepipe.yaml"
        script:
            "../workflow/scripts/check_audio.py"


rule list_tracks:
    input:
        expand("results/tracks/{batch}.tsv", batch=BATCHES),
    output:
        "results/tracks.tsv",
    log:
        "logs/list_tracks.log",
    benchmark:
        "benchmarks/list_tracks.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/list_tracks.py"


# Apart from list_tracks: what the scan skipped (a notes.txt dropped into a genre
# folder) is a param here, and as one of list_tracks it rewrote results/tracks.tsv
# and so retrained every model.
rule list_failed_tracks:
    input:
        expand("results/tracks/{batch}.tsv", batch=BATCHES),
    output:
        "results/failed_tracks.tsv",
    params:
        skipped=DISCOVERY.skipped,
    log:
        "logs/list_failed_tracks.log",
    benchmark:
        "benchmarks/list_failed_tracks.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/list_failed_tracks.py"


# Its output is a record of the download hidden inside the genres folder, not the
# folder: Snakemake deletes a job's outputs before it runs, so a rerun (another url or
# md5, a lost benchmark file) deleted a good dataset before failing to fetch another.
# A folder already there is kept; deleting it downloads again.
rule download_gtzan:
    output:
        record=GTZAN_DOWNLOAD_RECORD,
    params:
        url=config["dataset"]["download"]["url"],
        md5=config["dataset"]["download"]["md5"],
    log:
        "logs/download_gtzan.log",
    benchmark:
        "benchmarks/download_gtzan.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/download_gtzan.py"
