"""The environments the workflow's jobs run in: the conda file, and the package's path."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, TINY_CONFIG, snakemake_command

ENV_FILE = PROJECT_ROOT / "envs" / "genrepipe.yaml"
# The project's own modules: the package, tools/ (which tests import) and conftest.
OWN_MODULES = {
    "genrepipe",
    "conftest",
    *(path.stem for path in (PROJECT_ROOT / "tools").glob("*.py")),
}


def _imported_modules(folders):
    """The top-level modules that the Python files under `folders` import (absolute imports)."""
    modules = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module.partition(".")[0])
    return modules - set(sys.stdlib_module_names) - OWN_MODULES


def _distribution_names(requirements):
    """`name>=1; marker` lines as normalized distribution names (PEP 503)."""
    names = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


@pytest.mark.parametrize(
    ("folders", "extras"),
    [(("src", "workflow", "tools"), ()), (("tests",), ("test",))],
    ids=["code", "tests"],
)
def test_every_imported_package_is_a_declared_dependency(folders, extras):
    """An import that works here only because another package pulled it in (numba by
    librosa, threadpoolctl by scikit-learn) breaks when that package stops needing it,
    and escapes the lower bounds that tools/check_oldest_versions.py checks."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    declared = _distribution_names(project["dependencies"])
    for extra in extras:
        declared |= _distribution_names(project["optional-dependencies"][extra])
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_imported_modules([PROJECT_ROOT / f for f in folders])):
        names = _distribution_names(providers.get(module, [module]))
        if not names & declared:
            undeclared[module] = sorted(names)
    assert not undeclared, f"imported but not in pyproject.toml: {undeclared}"


def test_conda_environment_holds_exactly_the_package_dependencies():
    """`--sdm conda` installs what pip installs for the package, bounds included; no path to
    the project, which Snakemake's copy under .snakemake/conda/ would resolve elsewhere."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    env = yaml.safe_load(ENV_FILE.read_text(encoding="utf-8"))
    (pip,) = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict)]
    assert pip == pyproject["project"]["dependencies"]
    assert not [line for line in pip if line.startswith(("-e", ".", "/"))]
    python = next(d for d in env["dependencies"] if str(d).startswith("python "))
    assert python.split()[1].startswith(pyproject["project"]["requires-python"])


@pytest.mark.slow
def test_jobs_run_the_checkouts_package_whatever_the_environment_holds(tmp_path):
    """An environment with the dependencies and another genrepipe (a stale `pip install .`,
    a conda environment's own): the workflow parses and its jobs run the checkout's src/."""
    venv = tmp_path / "other_env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies by a plain path line (so without the editable install's .pth file
    # among them), and a decoy genrepipe of the environment's own.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    (site / "genrepipe").mkdir()
    (site / "genrepipe" / "__init__.py").write_text(
        'raise ImportError("the decoy genrepipe")\n', encoding="utf-8"
    )
    probe = subprocess.run([python, "-c", "import genrepipe"], capture_output=True, text=True)
    assert "the decoy genrepipe" in probe.stderr
    workdir = tmp_path / "run"
    workdir.mkdir()
    command = snakemake_command(workdir, TINY_CONFIG, extra=["results/tracks.tsv"])
    command[0] = str(python)
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    assert len((workdir / "results" / "tracks.tsv").read_text(encoding="utf-8").splitlines()) == 81
