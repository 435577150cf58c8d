# Per-track features, one cached .npy per track and feature set, extracted in
# batches (one job pays the start-up of Python and librosa for many tracks),
# then merged into one parquet table per feature set.


for _batch, _tracks in BATCHES.items():

    rule:
        name:
            f"extract_features_{_batch}"
        input:
            [track.path for track in _tracks],
        output:
            features=[
                f"results/features/{{feature_set}}/{track.genre}/{track.track}.npy"
                for track in _tracks
            ],
            report=f"results/features/{{feature_set}}/reports/{_batch}.tsv",
        params:
            tracks=[track.track for track in _tracks],
            genres=[track.genre for track in _tracks],
            settings=feature_set_settings,
            sample_rate=config["audio"]["sample_rate"],
            # Not dataset.min_duration: which clips are long enough is the audio
            # check's call, applied by the merge, so changing it re-extracts nothing.
            max_duration=config["dataset"]["max_duration"],
            # A new librosa release re-extracts every batch, as a new conda environment
            # would: features of two releases never meet in one table. Named, so that
            # `snakemake -n` says "now: {'librosa': '0.11'}", not a bare '0.11'.
            libraries={"librosa": LIBROSA_RELEASE},
        log:
            f"logs/extract_features/{{feature_set}}/{_batch}.log",
        benchmark:
            f"benchmarks/extract_features/{{feature_set}}/{_batch}.tsv"
        group:
            "tracks"  # ignored locally; on a cluster, --group-components tracks=N packs N
        conda:
            "../envs/genrepipe.yaml"
        script:
            "../workflow/scripts/extract_features.py"


rule merge_features:
    input:
        features=lambda wildcards: [
            feature_file(wildcards.feature_set, track) for track in TRACKS
        ],
        reports=expand(
            "results/features/{{feature_set}}/reports/{batch}.tsv", batch=BATCHES
        ),
        usable="results/tracks.tsv",
    output:
        table="results/features/{feature_set}.parquet",
        failed="results/features/{feature_set}_failed.tsv",
    params:
        tracks=[track.track for track in TRACKS],
        genres=[track.genre for track in TRACKS],
        settings=feature_set_settings,
    log:
        "logs/merge_features/{feature_set}.log",
    benchmark:
        "benchmarks/merge_features/{feature_set}.tsv"
    conda:
        "../envs/genrepipe.yaml"
    script:
        "../workflow/scripts/merge_features.py"
