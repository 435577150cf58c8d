"""tools/check_oldest_versions.py: every runtime dependency's lower bound, as a pin."""

from __future__ import annotations

import re
import sys
import tomllib

import check_oldest_versions as tool
import pytest


@pytest.mark.parametrize(
    ("requirement", "pin"),
    [
        ("numpy>=1.26,<3", "numpy==1.26.*"),
        ("librosa>=0.10.2,<2", "librosa==0.10.2"),
        # 13.0, not the newest 13.x that ==13.* would let pip take (13.9.4).
        ("rich>=13", "rich==13.0.*"),
        (
            "tensorflow-cpu>=2.16,<3; sys_platform == 'linux'",
            "tensorflow-cpu==2.16.*; sys_platform == 'linux'",
        ),
    ],
)
def test_a_lower_bound_becomes_a_pin(requirement, pin):
    assert tool.oldest_pin(requirement) == pin


def test_a_dependency_without_a_lower_bound_is_refused():
    with pytest.raises(ValueError, match="no lower bound"):
        tool.oldest_pin("pyarrow")


def test_every_runtime_dependency_has_a_lower_bound_to_test():
    # A new dependency must say which release it needs, so that the oldest can be tested.
    pins = tool.oldest_pins()
    names = [pin.split("==")[0] for pin in pins]
    assert "snakemake" in names and "scikit-learn" in names
    assert all("==" in pin for pin in pins)


def test_an_environment_it_did_not_make_is_not_wiped(tmp_path, capsys):
    own = tmp_path / ".venv"
    (own / "bin").mkdir(parents=True)
    with pytest.raises(SystemExit) as stop:
        tool.main(["--venv", str(own)])
    assert stop.value.code == 2
    assert "was not made by this script" in capsys.readouterr().err
    assert (own / "bin").is_dir()


def test_pytest_and_its_plugins_are_installed_beside_the_oldest_releases():
    """pyproject's addopts start pytest-xdist's workers (-n): an environment without the
    plugin cannot even start the suite."""
    test_extra = tomllib.loads((tool.PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]["optional-dependencies"]["test"]
    pytest_packages = {
        re.match(r"pytest[\w-]*", d).group(0) for d in test_extra if d.startswith("pytest")
    }
    assert "pytest-xdist" in pytest_packages
    assert pytest_packages <= set(tool.TEST_TOOLS)


@pytest.mark.parametrize(
    ("requires", "oldest"), [(">=3.11", (3, 11)), (">= 3.12.1", (3, 12)), (">=3.11,<3.14", (3, 11))]
)
def test_the_oldest_python_is_read_from_requires_python(tmp_path, requires, oldest):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f'[project]\nrequires-python = "{requires}"\n', encoding="utf-8")
    assert tool.oldest_python(pyproject) == oldest


def test_requires_python_without_a_lower_bound_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nrequires-python = "<3.14"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="no lower bound"):
        tool.oldest_python(pyproject)


def test_the_projects_oldest_python_is_the_one_its_environment_file_allows_first():
    assert tool.oldest_python() == (3, 11)


def test_another_python_is_refused_before_anything_is_made(tmp_path, capsys, monkeypatch):
    # numba 0.58.1, the oldest allowed, has no build for Python 3.12 or newer: there pip
    # failed minutes into the installs. Said at once, and no environment made.
    this = sys.version_info[:2]
    monkeypatch.setattr(tool, "oldest_python", lambda: (this[0], this[1] - 1))
    target = tmp_path / ".venv-oldest"
    with pytest.raises(SystemExit) as stop:
        tool.main(["--venv", str(target)])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert f"run it with Python {this[0]}.{this[1] - 1}, the oldest pyproject.toml allows" in error
    assert f"(this is {this[0]}.{this[1]})" in error
    assert not target.exists()


def test_the_oldest_python_goes_on_to_make_the_environment(tmp_path, monkeypatch):
    this = sys.version_info[:2]
    monkeypatch.setattr(tool, "oldest_python", lambda: this)

    class Made(Exception):
        pass

    def made(*args, **kwargs):
        raise Made

    monkeypatch.setattr(tool.venv, "create", made)
    with pytest.raises(Made):
        tool.main(["--venv", str(tmp_path / ".venv-oldest")])


def test_an_environment_stopped_while_it_was_made_is_known_as_this_scripts(tmp_path, monkeypatch):
    # venv.create(clear=True) ran before the marker was written, and wiped it on a rebuild:
    # a Ctrl-C then left a folder every later run refused as "not made by this script".
    this = sys.version_info[:2]
    monkeypatch.setattr(tool, "oldest_python", lambda: this)
    target = tmp_path / ".venv-oldest"
    calls = []

    def interrupted(path, **kwargs):
        calls.append(path)
        (path / "half-made").write_text("", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(tool.venv, "create", interrupted)
    for _ in range(2):  # made, stopped; then wiped and made again
        with pytest.raises(KeyboardInterrupt):
            tool.main(["--venv", str(target)])
        assert (target / tool.MARKER).is_file()
    assert calls == [target, target]
