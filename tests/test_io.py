"""Atomic outputs: whole or absent, and as readable as any file the user makes."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from genrepipe.io import atomic_path, save_npy, staged_folder


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    """Run the test under a given umask, restoring the old one after."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_file_gets_the_umask_permissions(tmp_path, umask):
    # tempfile makes its files owner-only (0600): a shared results folder could not be read.
    with atomic_path(tmp_path / "summary.csv") as tmp:
        tmp.write_text("model,test_accuracy\n")
    save_npy(tmp_path / "features" / "blues.00000.npy", np.zeros(3))
    for path in (tmp_path / "summary.csv", tmp_path / "features" / "blues.00000.npy"):
        assert mode(path) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features", "summary.csv"]


def test_staged_folder_gets_the_umask_permissions(tmp_path, umask):
    with staged_folder(tmp_path / "model") as tmp:
        (tmp / "card.json").write_text("{}")
    assert mode(tmp_path / "model") == 0o777 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_staged_folder_replaces_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "model"
    with staged_folder(folder) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(folder) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("killed mid-write")
    assert [p.name for p in folder.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left
    with staged_folder(folder) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in folder.iterdir()] == ["new.txt"]


def test_temporary_names_match_the_pattern_the_readme_gives_for_leftovers(tmp_path):
    # A killed job leaves its temporary file or folder: `.*.tmp*` must find both.
    import fnmatch

    with atomic_path(tmp_path / "summary.csv") as file, staged_folder(tmp_path / "model") as folder:
        names = [file.name, folder.name]
    assert all(fnmatch.fnmatch(name, ".*.tmp*") for name in names), names
