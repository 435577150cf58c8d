"""A trained model as one folder: everything needed to classify new audio.

``transform.skops`` (preprocessing fitted on training rows), the estimator
(``estimator.skops`` or ``estimator.keras``, via :func:`genrepipe.models.save_model`)
and ``card.json`` (feature set and settings, input kind, class names, fit
details, library versions). Nothing in it is unpickled on load.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genrepipe.io import staged_folder
from genrepipe.models import load_model, save_model

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

#: The libraries whose versions change what a bundle answers: librosa computes its
#: features, scikit-learn (read back by skops) its transform and estimator, and Keras
#: runs the network of a ``.keras`` estimator.
RECORDED_LIBRARIES = ("librosa", "scikit-learn", "keras")


def library_versions(*, keras: bool = True) -> dict[str, str]:
    """The installed versions of genrepipe and :data:`RECORDED_LIBRARIES`, for a card
    (without Keras for a bundle that holds no network)."""
    from importlib.metadata import PackageNotFoundError, version

    from genrepipe import __version__

    versions = {"genrepipe": __version__}
    for name in RECORDED_LIBRARIES if keras else RECORDED_LIBRARIES[:-1]:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - a declared dependency
            continue
    return versions


def save_bundle(
    folder: str | os.PathLike,
    *,
    transform: BaseEstimator | None,
    model: BaseEstimator,
    card: dict[str, Any],
    transform_file: str | os.PathLike | None = None,
) -> None:
    """Write the bundle into a temporary folder, then rename it onto ``folder``.

    ``transform_file``: the fitted transform's file, unchanged, to link into the
    bundle rather than write again; ``transform`` is then ignored (it may be None,
    as the callers pass it). A fold's PCA fitted on GTZAN's 121,800 seed87 values of
    900 tracks is 441 MB (float32): written anew into each model's bundle of each
    fold, it cost seconds per job and 13 GB over three models and 10 folds. A hard
    link takes no space; where none can be made (another file system), a copy.
    The source is replaced, never rewritten, when refitted, so the link keeps the
    transform this model was trained with.
    """
    with staged_folder(folder) as tmp:
        if transform_file is None:
            save_model(transform, tmp / "transform.skops")
        else:
            try:
                os.link(transform_file, tmp / "transform.skops")
            except OSError:
                shutil.copyfile(transform_file, tmp / "transform.skops")
        estimator_path = tmp / _estimator_name(model)
        save_model(model, estimator_path)
        card = {
            **card,
            "estimator_file": estimator_path.name,
            "versions": library_versions(keras=estimator_path.suffix == ".keras"),
        }
        (tmp / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")


def save_ensemble_bundle(
    folder: str | os.PathLike, members: dict[str, str | os.PathLike], card: dict[str, Any]
) -> None:
    """Write a soft-voting ensemble's bundle: its members' bundles under ``members/``.

    The members are copied, not linked, so the folder stands alone wherever it is
    moved. Its ``card.json`` has ``estimator: ensemble`` and the member names in
    ``members``; :mod:`genrepipe.predict` averages the members' probabilities.
    """
    with staged_folder(folder) as tmp:
        for name, member in members.items():
            shutil.copytree(member, tmp / "members" / name)
        card = {
            **card,
            "estimator": "ensemble",
            "members": list(members),
            "versions": library_versions(keras=False),  # each member's card has its own
        }
        (tmp / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")


def load_bundle(folder: str | os.PathLike) -> tuple[Any, Any, dict[str, Any]]:
    """Read a bundle back as ``(transform, model, card)``."""
    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.is_file():
        raise FileNotFoundError(f"{folder} is not a model bundle (no card.json)")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    transform = load_model(folder / "transform.skops")
    model = load_model(folder / card["estimator_file"])
    return transform, model, card


def _estimator_name(model) -> str:
    from genrepipe.models import KerasClassifier
    from genrepipe.windows import CnnEmbeddingClassifier

    # A CNN head's archive holds a Keras network too (and its head as skops).
    keras_based = isinstance(model, KerasClassifier | CnnEmbeddingClassifier)
    return "estimator.keras" if keras_based else "estimator.skops"
