"""Files a user may have been sent are data, never code.

Models are read with skops and an allow-list of types, Keras archives with
``safe_mode``; cached arrays with ``allow_pickle=False``; tables are parquet or
TSV; config is YAML read by a safe loader. Rule scripts get paths from the
``snakemake`` object, never through a shell, so a file name is only a name.
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT_ROOT
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from genrepipe.io import load_npy
from genrepipe.models import UntrustedModelError, load_model, save_model

PYTHON_SOURCES = sorted(
    [
        *(PROJECT_ROOT / "src" / "genrepipe").rglob("*.py"),
        *(PROJECT_ROOT / "workflow").rglob("*.py"),
    ]
)
WORKFLOW_SOURCES = sorted([PROJECT_ROOT / "Snakefile", *(PROJECT_ROOT / "rules").glob("*.smk")])

# -- the code never deserializes code ------------------------------------------------------------

#: Calls that run code or unpickle whatever they are given.
_ALWAYS_UNSAFE = {
    "eval",
    "exec",
    "compile",
    "__import__",
    "os.system",
    "os.popen",
    "pickle.load",
    "pickle.loads",
    "cPickle.load",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "pd.read_pickle",
    "pandas.read_pickle",
    "torch.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "sio.load",  # skops: only through genrepipe.models.load_model, which audits types first
}
_PICKLE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "shelve", "marshal"}
#: config.py's duplicate-key check loads with a SafeLoader subclass (checked below).
_SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "_UniqueKeyLoader"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def unsafe_calls(source: str) -> list[str]:
    """Every call in ``source`` that could run code hidden in data, as ``line: text``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            modules.append(getattr(node, "module", None) or "")
            if any(m.split(".")[0] in _PICKLE_MODULES for m in modules):
                found.append(f"{node.lineno}: imports a pickle module")
            continue
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        problem = None
        if name in _ALWAYS_UNSAFE:
            problem = name
        elif name in ("np.load", "numpy.load"):
            value = keywords.get("allow_pickle")
            if not (isinstance(value, ast.Constant) and value.value is False):
                problem = f"{name} without allow_pickle=False"
        elif name == "yaml.load":
            loader = keywords.get("Loader")
            if loader is None or _dotted(loader).split(".")[-1] not in _SAFE_YAML_LOADERS:
                problem = "yaml.load without a safe Loader"
        elif name.startswith("subprocess.") or name in ("Popen", "run", "check_output"):
            value = keywords.get("shell")
            if isinstance(value, ast.Constant) and value.value is True:
                problem = f"{name} with shell=True"
        elif name.endswith(".extractall") and "filter" not in keywords:
            problem = "extractall without a filter"
        if problem:
            found.append(f"{node.lineno}: {problem}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "np.load(path)",
        "numpy.load(path, allow_pickle=True)",
        "pickle.loads(data)",
        "import pickle",
        "from dill import load",
        "joblib.load(path)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.unsafe_load(text)",
        "eval(text)",
        "exec(text)",
        "os.system(command)",
        "subprocess.run(command, shell=True)",
        "pd.read_pickle(path)",
        "tar.extractall(folder)",
        "sio.load(path, trusted=types)",
    ],
)
def test_the_scan_finds_unsafe_calls(snippet):
    assert unsafe_calls(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "np.load(path, allow_pickle=False)",
        "yaml.safe_load(text)",
        "yaml.load(text, Loader=yaml.SafeLoader)",
        "subprocess.run([program, path])",
        "tar.extractall(folder, filter='data')",
        "model.evaluate(X)",
    ],
)
def test_the_scan_passes_safe_calls(snippet):
    assert unsafe_calls(snippet) == []


@pytest.mark.parametrize("path", PYTHON_SOURCES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_package_and_scripts_never_deserialize_code(path):
    found = unsafe_calls(path.read_text(encoding="utf-8"))
    if path.name == "models.py":  # load_model: skops behind the allow-list (tested below)
        found = [problem for problem in found if not problem.endswith(": sio.load")]
    assert found == [], path


def test_the_duplicate_key_loader_is_a_safe_loader(tmp_path):
    import yaml

    from genrepipe.config import _UniqueKeyLoader, check_unique_keys

    assert issubclass(_UniqueKeyLoader, yaml.SafeLoader)
    config = tmp_path / "config.yaml"
    config.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8")
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load(config.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    check_unique_keys([config])  # refused as no YAML it reads: Snakemake's load refuses it


def test_skops_is_loaded_only_behind_the_allow_list():
    """``skops.io.load`` appears once, in genrepipe.models, right after the type audit."""
    users = [
        p
        for p in PYTHON_SOURCES
        if re.search(r"\bsio\.load\(|skops\.io\.load\(", p.read_text(encoding="utf-8"))
    ]
    assert [p.name for p in users] == ["models.py"]
    text = users[0].read_text(encoding="utf-8")
    load = text.index("sio.load(")
    assert text.rfind("get_untrusted_types", 0, load) != -1
    assert text.rfind("raise UntrustedModelError", 0, load) != -1


@pytest.mark.parametrize("path", WORKFLOW_SOURCES, ids=lambda p: p.name)
def test_rules_run_no_shell_commands(path):
    """Every rule runs a script that reads paths from the snakemake object: no shell, no eval."""
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"^\s*shell:", text, re.MULTILINE), path
    assert not re.search(r"\b(eval|exec|pickle\.loads?|os\.system)\(", text), path


# -- malicious files are refused before any of their code runs -----------------------------------


class Trap(TransformerMixin, BaseEstimator):
    """A custom type whose loading touches a marker file: what an attacker's class would do."""

    marker = ""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return X

    def __setstate__(self, state):
        Path(state["marker_path"]).touch()
        self.__dict__.update(state)


def test_skops_file_with_a_custom_type_is_refused_unrun(tmp_path):
    import skops.io as sio

    marker = tmp_path / "ran"
    trap = Trap().fit(np.zeros((2, 1)))
    trap.marker_path = str(marker)
    path = tmp_path / "transform.skops"
    save_model(Pipeline([("trap", trap)]).fit(np.zeros((2, 1))), path)

    with pytest.raises(UntrustedModelError, match="Trap"):
        load_model(path)
    assert not marker.exists()
    # The file is truly dangerous: a load that trusts what it names runs the attacker's code.
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


@pytest.mark.parametrize("func", [exec, eval, getattr])
def test_skops_file_calling_a_builtin_is_refused(tmp_path, func):
    path = tmp_path / "estimator.skops"
    save_model(FunctionTransformer(func=func).fit(np.zeros((2, 1))), path)
    with pytest.raises(UntrustedModelError, match=func.__name__):
        load_model(path)


#: The environment variable naming the file a malicious Keras Lambda layer touches.
MARKER = "GENREPIPE_TEST_MARKER"


class _Payload:
    """Unpickling this touches a marker: what a pickled .npy from an attacker would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_npy_holding_objects_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "blues.00000.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object), allow_pickle=True)

    with pytest.raises(ValueError, match="allow_pickle"):
        load_npy(path)
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # what load_npy must never do
    assert marker.exists()


def test_keras_archive_with_a_lambda_layer_is_refused_unrun(tmp_path, monkeypatch):
    """A Keras model can carry Python code in a Lambda layer: safe_mode refuses it."""
    keras = pytest.importorskip("keras")
    from genrepipe import models

    marker = tmp_path / "ran"
    monkeypatch.setenv(MARKER, str(marker))

    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.Lambda(
            # Self-contained (it runs in Keras's namespace on load): names, not globals.
            lambda x: (
                __import__("pathlib")
                .Path(__import__("os").environ["GENREPIPE_TEST_MARKER"])
                .touch(),
                x,
            )[1],
            output_shape=(3,),
        )(inputs)
    )
    network = keras.Model(inputs, outputs)
    marker.unlink(missing_ok=True)  # building the model called it once
    network.save(tmp_path / "model.keras")
    meta = {
        "format": models._KERAS_FORMAT,
        "format_version": models._KERAS_FORMAT_VERSION,
        "params": {"architecture": "nn"},
        "classes": ["blues", "rock"],
        "classes_dtype": "object",
        "history": {},
        "best_epoch": 1,
        "input_shape": [3],
        "versions": {},
    }
    path = tmp_path / "estimator.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(models._KERAS_ARCHIVE_META, json.dumps(meta))
        archive.write(tmp_path / "model.keras", arcname=models._KERAS_ARCHIVE_MODEL)

    with pytest.raises(ValueError, match="(?i)lambda.*safe_mode"):
        load_model(path)
    assert not marker.exists()
    # The archive is truly dangerous: without safe_mode its code runs on the first prediction.
    unsafe = keras.models.load_model(tmp_path / "model.keras", safe_mode=False)
    unsafe.predict(np.zeros((1, 3), dtype=np.float32), verbose=0)
    assert marker.exists()


# -- file names are names ------------------------------------------------------------------------

#: File names a shell would run `touch pwned` for; each ends in a clip number.
SHELL_NAMES = {
    "blues": "$(touch pwned).00004.wav",
    "rock": "`touch pwned`.00004.wav",
    "jazz": "x; touch pwned; .00004.wav",
    "pop": "a' \"b && touch pwned | cat > pwned .00004.wav",
}


@pytest.mark.slow
def test_shell_metacharacters_in_file_names_run_nothing(tmp_path):
    import shutil

    import yaml
    from conftest import TINY_CONFIG, run_workflow

    from genrepipe.synthetic import write_dataset

    write_dataset(tmp_path / "data", n_per_genre=4, duration=3.0, seed=5)
    genres = tmp_path / "data" / "genres"
    for genre, name in SHELL_NAMES.items():
        shutil.copy(genres / genre / f"{genre}.00000.wav", genres / genre / name)
    override = tmp_path / "names.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "dataset": {"kind": "gtzan", "gtzan": {"root": str(genres)}},
                "features": {"sets": ["seed87"]},
                "run_models": ["gmm"],
                "final_models": False,  # file names are the point, not the final bundle
                "split": {"holdout": {"test_size": 0.25, "seed": 0}},
            }
        ),
        encoding="utf-8",
    )
    run_workflow(tmp_path, TINY_CONFIG, override)

    executed = [path for path in tmp_path.rglob("*") if path.name == "pwned"]
    assert not executed, executed
    assert not (PROJECT_ROOT / "pwned").exists()
    tracks = pd.read_csv(tmp_path / "results" / "tracks.tsv", sep="\t")
    for name in SHELL_NAMES.values():
        assert name.removesuffix(".wav") in set(tracks["track"])
    predictions = pd.read_csv(
        tmp_path / "results" / "models" / "gmm" / "holdout" / "fold0" / "predictions.tsv", sep="\t"
    )
    assert len(predictions) == len(tracks) == 44
