"""genrepipe: music genre recognition on GTZAN, as a reproducible Snakemake workflow.

The package holds every computation as plain functions and estimators; the
Snakemake rule scripts in ``workflow/scripts`` only wire files to them.
"""

__version__ = "0.1.0"

#: The ten GTZAN genres, in the collection's (alphabetical) order.
GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

#: GTZAN's sample rate: every clip is 22050 Hz mono.
SAMPLE_RATE: int = 22050
