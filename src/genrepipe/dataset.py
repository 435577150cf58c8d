"""Finding tracks: the GTZAN folder layout, track ids and extraction batches.

GTZAN ships as ``genres/<genre>/<genre>.000NN.au``; the widely shared copy uses
``.wav``. A track's id is its file name without the extension (``blues.00000``),
unique across the collection because the genre is part of it.
"""

from __future__ import annotations

import filecmp
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from genrepipe import GENRES

#: File extensions taken as audio when a dataset folder is scanned.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav",
    ".au",
    ".flac",
    ".ogg",
    ".mp3",
    ".aiff",
    ".aif",
    ".caf",
)

_TRAILING_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class Track:
    """One audio clip of a dataset."""

    track: str  #: id, e.g. ``blues.00000``
    genre: str
    path: str  #: path as given (relative to the working directory, or absolute)


@dataclass(frozen=True)
class Discovery:
    """What scanning a dataset folder found: tracks, and what was skipped and why."""

    tracks: list[Track]
    skipped: list[tuple[str, str]]  #: (path, reason) of folders and files left out

    def folder_label_warning(self) -> str | None:
        """One line naming the clips whose file name gives another genre than their
        folder (``rock.00005.wav`` in ``pop/``), or None when there are none.

        The folder is the label: moving a clip is how a mislabelled GTZAN clip is
        relabelled. A copy into the wrong folder looks the same, so say it.
        """
        named = [
            track
            for track in self.tracks
            if (prefix := track.track.split(".", 1)[0]) in GENRES and prefix != track.genre
        ]
        if not named:
            return None
        listed = ", ".join(f"{Path(t.path).parent.name}/{Path(t.path).name}" for t in named[:5])
        more = f" and {len(named) - 5} more" if len(named) > 5 else ""
        return (
            f"{len(named)} clip(s) named for another genre than their folder's are labelled "
            f"by the folder: {listed}{more}"
        )


#: Names of the folder of genre folders inside a dataset folder: the original archive's,
#: and that of the widely shared ``.wav`` copy (``Data/genres_original/<genre>/``).
GENRE_FOLDER_NAMES: tuple[str, ...] = ("genres", "genres_original")


def _holds_genre_folders(folder: Path) -> bool:
    try:
        entries = list(folder.iterdir())
    except OSError:  # not a folder, or one we may not list
        return False
    return any(_genre_of_folder(entry.name) in GENRES and entry.is_dir() for entry in entries)


def _genre_of_folder(name: str) -> str:
    """The genre a folder name gives: some copies capitalize them (``Blues/``)."""
    return name.lower()


def find_genre_root(root: str | os.PathLike) -> Path:
    """Return the folder holding one sub-folder per genre.

    Accepts that folder itself, or its parent when it is named as in a known copy
    (:data:`GENRE_FOLDER_NAMES`: ``genres`` in the original archive,
    ``genres_original`` in the common ``.wav`` copy).

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist or holds no genre folder; the message names
        the sub-folders of ``root`` that do, if any.
    """
    root = Path(root)
    if root.is_file():
        raise FileNotFoundError(f"dataset folder {root} is a file, not a folder")
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    if (found := _accepted_genre_root(root)) is not None:
        return found
    message = (
        f"dataset folder {root} holds no genre folder (expected e.g. {root}/blues/ or "
        f"{root}/genres/blues/)"
    )
    # Another copy's layout: say which sub-folder to point at rather than guess (Kaggle's
    # download holds Data/genres_original/).
    if inside := genre_roots_inside(root):
        message += f"; genre folders are in {' and '.join(map(str, inside))}: point there"
    elif _genre_of_folder(root.name) in GENRES and _holds_genre_folders(root.parent):
        # One genre's folder: its clips sit right there.
        message = (
            f"dataset folder {root} is the folder of one genre; point at the folder "
            f"holding all ten, {root.parent}"
        )
    elif folders := _folder_names(root):
        # A collection of other genres ('hip-hop', 'r&b'): say which names are read.
        shown = ", ".join(folders[:5]) + (
            f" and {len(folders) - 5} more" if len(folders) > 5 else ""
        )
        message += (
            f"; its folders ({shown}) are no genre's: genre folders are named for "
            f"GTZAN's ten genres ({', '.join(GENRES)}), in any case"
        )
    raise FileNotFoundError(message)


def _folder_names(folder: Path) -> list[str]:
    """The names of the sub-folders of ``folder`` (not hidden), sorted; none if unlisted."""
    try:
        return sorted(
            sub.name for sub in folder.iterdir() if sub.is_dir() and not sub.name.startswith(".")
        )
    except OSError:  # a folder we may not list holds none we can read
        return []


def genre_roots_inside(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` (not hidden) that :func:`find_genre_root` accepts."""
    return [folder / name for name in _folder_names(folder) if _accepted_genre_root(folder / name)]


def _accepted_genre_root(folder: Path) -> Path | None:
    """The genre folders' parent that :func:`find_genre_root` accepts for ``folder``."""
    for candidate in (folder, *(folder / name for name in GENRE_FOLDER_NAMES)):
        if _holds_genre_folders(candidate):
            return candidate
    return None


#: The names file managers give a copy made beside its original: macOS Finder's
#: ``x copy``, ``x copy 2`` and, to keep both of two files, ``x 2``; Windows
#: Explorer's ``x - Copy``, ``x - Copy (2)``; GNOME Files' ``x (copy)``,
#: ``x (another copy)``, ``x (3rd copy)``; a browser's second download ``x (1)``.
_FILE_MANAGER_COPY = re.compile(
    r"^(?P<original>.+?)(?: copy(?: \d+)?| - copy(?: \(\d+\))?| \d+"
    r"| \((?:copy|another copy|\d+(?:st|nd|rd|th) copy|\d+)\))$",
    re.IGNORECASE,
)


def _original_of_copy(track_id: str) -> str | None:
    """The id ``track_id`` would have if it were a copy of another clip, else None.

    A file manager's copy name (above), or a conversion saved beside its source
    under the source's whole name (``blues.00000.au.wav``: id ``blues.00000.au``).
    """
    if match := _FILE_MANAGER_COPY.match(track_id):
        return match["original"]
    stem, suffix = os.path.splitext(track_id)
    return stem if stem and suffix.lower() in AUDIO_EXTENSIONS else None


def _without_file_manager_copies(found: Sequence[Track], skipped: list) -> list[Track]:
    """``found`` less the clips named as a file manager's copy of another clip found.

    A copy is the same recording under another id: it would sit on one side of a split
    and its original on the other, and score as if the model had heard it.
    """
    ids = {track.track for track in found}
    kept = []
    for track in found:
        original = _original_of_copy(track.track)
        if original in ids:
            skipped.append(
                (
                    track.path,
                    f"named as a copy of {original}, whose clip is kept: a copy "
                    "in training and its original in testing would score a clip the model "
                    "heard (rename it if it is another recording)",
                )
            )
        else:
            kept.append(track)
    return kept


def _one_clip_per_id(found: Sequence[Track], skipped: list[tuple[str, str]]) -> list[Track]:
    """One clip of each track id, in scan order; the others go to ``skipped``.

    The clip in the folder its name gives (rock/rock.00000.wav over a copy in pop/,
    whichever folder sorts first), else the first found (sorted: .au before .wav).

    Raises
    ------
    ValueError
        If an id whose name gives no genre (``01``) names different recordings in two
        genre folders: numbered folder by folder, a collection would lose all but one
        genre's clips as "duplicates".
    """
    by_id: dict[str, list[Track]] = {}
    for track in found:
        by_id.setdefault(track.track, []).append(track)
    kept, shared = set(), []
    for track_id, clips in by_id.items():
        named = [clip for clip in clips if track_id.split(".", 1)[0] == clip.genre]
        keep = (named or clips)[0]
        kept.add(keep.path)
        for clip in clips:
            if clip is keep:
                continue
            if (
                not named
                and clip.genre != keep.genre
                and not filecmp.cmp(keep.path, clip.path, shallow=False)
            ):
                shared.append((keep, clip))
            skipped.append((clip.path, f"duplicate track id {track_id} (also {keep.path})"))
    if shared:
        keep, clip = shared[0]
        others = len(shared) - 1
        more = f" (and {others} more such pair{'s' if others > 1 else ''})" if others else ""
        names = [f"{t.genre}.{t.track}{Path(t.path).suffix}" for t in (keep, clip)]
        raise ValueError(
            f"{keep.path} and {clip.path} are different recordings with one track id, "
            f"{keep.track}{more}: a clip's id is its file name less the extension, and must "
            f"be unique in the whole collection; rename them as GTZAN names its clips "
            f"(<genre>.000NN): {names[0]} and {names[1]}, say"
        )
    return [track for track in found if track.path in kept]


def _utf8(name: str) -> bool:
    """Whether a file name read from disk is UTF-8 text (undecodable bytes come as
    surrogates, which Snakemake's UTF-8 records of every path cannot hold)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(path: str | os.PathLike) -> str:
    """``path`` (or any text holding one) as UTF-8 text: bytes of another encoding as
    ``\\xe9`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _extension_problem(suffix: str, extensions: Sequence[str]) -> str:
    """Why a file is not taken as audio: its extension, or none (``blues.00004``)."""
    if suffix[1:].isdigit() or not suffix:  # GTZAN's number is no extension
        known = list(dict.fromkeys(extensions))
        listed = " or ".join([", ".join(known[:-1]), known[-1]] if len(known) > 1 else known)
        return f"no file extension (audio is {listed})"
    return f"not an audio file extension ({suffix})"


def discover_tracks(
    root: str | os.PathLike,
    genres: Sequence[str] = GENRES,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> Discovery:
    """Scan a GTZAN-style folder for audio clips.

    Parameters
    ----------
    root
        The ``genres`` folder, or its parent.
    genres
        Genre folders to read; any other folder is reported as skipped.
    extensions
        Lower-case file extensions taken as audio; other files are reported as skipped.

    Returns
    -------
    Discovery
        Tracks in scan order, and the skipped paths with reasons. Genre folders
        come as their names sort on disk (case-sensitive, though the genre is the
        lower-cased name), then the files of each as their file names sort.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist or holds no genre folder.
    ValueError
        If the path of the genre folders holds ``{`` or ``}``, or is not UTF-8 text.
    """
    genre_root = find_genre_root(root)
    if "{" in str(genre_root) or "}" in str(genre_root):
        # Every clip's path would hold them, and Snakemake reads braces as a wildcard.
        raise ValueError(
            f"dataset folder {genre_root} has {{ or }} in its path, which Snakemake reads as a "
            "wildcard: rename the folder, or point to a link to it without braces"
        )
    if not _utf8(str(genre_root)):
        raise ValueError(
            f"dataset folder {_shown(genre_root)}: its path is not UTF-8 text, which Snakemake "
            "cannot record: rename the folder, or point to a link to it with a UTF-8 name"
        )
    found: list[Track] = []  # every clip, in scan order: an id may come twice
    skipped: list[tuple[str, str]] = []
    present: dict[str, Path] = {}  # genre folders by genre, for the genres without one
    for entry in sorted(genre_root.iterdir()):
        if entry.name.startswith("."):
            continue  # hidden files and folders (.DS_Store, .ipynb_checkpoints) are not data
        if not entry.is_dir():
            skipped.append((str(entry), "not a genre folder"))
            continue
        genre = _genre_of_folder(entry.name)
        present.setdefault(genre, entry)
        if genre not in genres:
            skipped.append((str(entry), f"unknown genre folder (known: {', '.join(genres)})"))
            continue
        for file in sorted(entry.iterdir()):
            if file.name.startswith("."):
                continue  # hidden files such as .DS_Store are not tracks
            if file.is_dir():
                # Clips in album folders would be left out unseen: say so.
                skipped.append(
                    (str(file), f"a folder inside a genre folder: clips must sit in {entry}/")
                )
                continue
            if not file.is_file():
                # A clip linked from elsewhere whose target moved would vanish unseen.
                if file.is_symlink():
                    skipped.append((str(file), f"broken link (to {os.readlink(file)})"))
                else:
                    skipped.append((str(file), "not a regular file"))
                continue
            if file.suffix.lower() not in extensions:
                skipped.append((str(file), _extension_problem(file.suffix, extensions)))
                continue
            if "{" in file.name or "}" in file.name:
                # Snakemake reads braces in a path as a wildcard: one such name stops the run.
                skipped.append((str(file), "file name holds { or }, which Snakemake cannot use"))
                continue
            if not _utf8(file.name):
                # A Latin-1 name on a UTF-8 system: Snakemake stops the run on its path.
                skipped.append(
                    (
                        str(file),
                        "file name is not UTF-8 text, which Snakemake cannot record: rename it",
                    )
                )
                continue
            found.append(Track(track=file.stem, genre=genre, path=str(file)))
    found = _without_file_manager_copies(found, skipped)
    tracks = _one_clip_per_id(found, skipped)
    counts, clips = Counter(track.genre for track in tracks), Counter(t.genre for t in found)
    for genre in sorted(present.keys() & set(genres)):
        if counts[genre] == 0:
            reason = (
                "genre folder holds only duplicates of clips kept in other folders"
                if clips[genre]
                else "genre folder holds no audio clips"
            )
            skipped.append((str(present[genre]), reason))
    # A genre without a folder is as absent as one with an empty folder: say so too,
    # in one line (a subset of a few genres would otherwise get a line for each other).
    if absent := [genre for genre in genres if genre not in present]:
        skipped.append((str(genre_root), f"no folder of {', '.join(absent)}: none of their clips"))
    # As text the run's records and logs can hold: any skipped name may be undecodable.
    # (A reason may hold a path too: the target of a broken link.)
    shown = [(_shown(path), _shown(reason)) for path, reason in skipped]
    return Discovery(tracks=tracks, skipped=shown)


def track_number(track_id: str) -> int:
    """The clip number of a track id (``blues.00042`` -> 42).

    Ids without a trailing number get a stable number from a CRC of the id, so
    every id has a fixed block of :func:`assign_batches` whatever else is in the
    dataset: one of GTZAN's numbers, 0 to 99, so that clips named by title batch as
    GTZAN's do. Spread over 0 to 99,999, 200 such clips made 199 extraction jobs of
    one or two clips, each paying a job's start-up. The price: such a collection
    has at most ``100 / w`` blocks (20 at the default ``tracks_per_job``), however
    large; a smaller ``tracks_per_job`` gives more. A trailing number of 100,000 or
    more (a recording's time, ``REC_20240312_101399``) is no clip number either:
    read as one, 40 such clips made 40 jobs of one clip.
    """
    match = _TRAILING_NUMBER.search(track_id)
    if match and int(match.group(1)) < 100_000:
        return int(match.group(1))
    return zlib.crc32(track_id.encode()) % 100


def assign_batches(
    tracks: Iterable[Track], tracks_per_job: int, n_genres: int = len(GENRES)
) -> dict[str, list[Track]]:
    """Group tracks into extraction batches, one job each.

    A job pays a fixed start-up cost (Python, librosa, numba), so tracks are
    extracted in batches. Block ``k`` holds clip numbers ``[k * w, (k + 1) * w)``
    of every genre, ``w = max(1, tracks_per_job // n_genres)``, so a block holds
    about ``tracks_per_job`` tracks of a balanced collection. A track's block depends
    only on its own clip number, never on which other tracks exist: adding clips
    changes only the blocks they fall in, and every other batch's cached
    features stay valid.

    A block holding less than a quarter of a full block (``w * n_genres / 4``
    tracks: a few stray clip numbers past the others, as jazz 11 and 12 of the
    GTZAN mini set) joins block ``k - 1`` when that one holds tracks and is not
    small itself: as a job of its own it would pay the whole start-up for a few
    tracks and, run last, leave the other cores idle. Only the block right before:
    joining whichever block came before, a stray clip 12 beside clips 0 to 4 moved
    out of their batch, re-extracting it, when clips 5 to 9 were added. So adding
    clips re-extracts at most the batch they join as well.

    Returns
    -------
    dict
        Batch name (``batch0000``, after its first block) to its tracks, in id order.
    """
    if tracks_per_job < 1:
        raise ValueError(f"tracks_per_job must be at least 1, got {tracks_per_job}")
    width = max(1, tracks_per_job // max(1, n_genres))
    blocks: dict[int, list[Track]] = {}
    for track in tracks:
        blocks.setdefault(track_number(track.track) // width, []).append(track)
    sparse = width * n_genres / 4
    batches: dict[str, list[Track]] = {}
    previous: list[Track] | None = None  # block k - 1, if it is a batch of its own
    for block, members in sorted(blocks.items()):
        if previous is not None and block - 1 not in blocks:
            previous = None  # a gap: the block before holds no track
        if previous is not None and len(members) < sparse:
            # Join only a full block, never a chain of sparse ones: a block's batch
            # depends on its own size and its predecessor's, no further.
            previous.extend(members)
            previous = None
        else:
            batches[f"batch{block:04d}"] = previous = list(members)
            if len(members) < sparse:
                previous = None
    return {name: sorted(batch, key=lambda t: t.track) for name, batch in batches.items()}
