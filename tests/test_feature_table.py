"""Tests of genrepipe.feature_table: streamed parquet round trip, subsets, errors, atomic writes."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from genrepipe.feature_table import (
    feature_table_metadata,
    read_feature_index,
    read_feature_table,
    write_feature_table,
)

N_TRACKS, SHAPE = 150, (4, 7)
NAMES = [f"feature_{i}" for i in range(SHAPE[0])]


@pytest.fixture(scope="module")
def content() -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    genres = ["blues", "jazz", "rock"]
    ids = [f"{genres[i % 3]}.{i:05d}" for i in range(N_TRACKS)]
    X = rng.standard_normal((N_TRACKS, *SHAPE)).astype(np.float32)
    X[0, 0, 0] = np.float32(1e-38)  # float32 extremes survive too
    X[1, 1, 1] = np.float32(3.4e38)
    return ids, [t.split(".")[0] for t in ids], X


@pytest.fixture
def table(tmp_path, content):
    ids, genres, X = content
    path = tmp_path / "features" / "mfcc.parquet"  # parent folder created by the writer
    n = write_feature_table(
        path,
        zip(ids, genres, X, strict=True),
        feature_set="mfcc",
        feature_names=NAMES,
        rows_per_group=64,
    )
    assert n == N_TRACKS
    return path


def test_round_trip_is_exact(table, content):
    ids, genres, X = content
    got_ids, got_genres, got_X = read_feature_table(table)
    assert got_ids.tolist() == ids
    assert got_genres.tolist() == genres
    assert got_X.dtype == np.float32
    assert got_X.shape == (N_TRACKS, *SHAPE)
    np.testing.assert_array_equal(got_X, X)


def test_writes_several_row_groups(table):
    metadata = pq.ParquetFile(table).metadata
    assert metadata.num_rows == N_TRACKS
    assert metadata.num_row_groups == 3  # 64 + 64 + 22
    assert [metadata.row_group(i).num_rows for i in range(3)] == [64, 64, 22]


def test_metadata_holds_feature_set_shape_and_names(table):
    meta = feature_table_metadata(table)
    assert meta == {"feature_set": "mfcc", "shape": list(SHAPE), "feature_names": NAMES}


def test_read_index_only(table, content, monkeypatch):
    """Ids and genres, without reading the features column (a GB on full GTZAN)."""
    import pyarrow.parquet as pq

    ids, genres, _ = content
    read = pq.read_table
    columns_read = []

    def spy(path, *args, columns=None, **kwargs):
        columns_read.append(columns)
        return read(path, *args, columns=columns, **kwargs)

    monkeypatch.setattr(pq, "read_table", spy)
    got_ids, got_genres = read_feature_index(table)
    assert got_ids.tolist() == ids
    assert got_genres.tolist() == genres
    assert columns_read == [["track", "genre"]]


def test_read_subset_in_requested_order(table, content):
    ids, genres, X = content
    wanted = [ids[140], ids[3], ids[70], ids[3]]
    got_ids, got_genres, got_X = read_feature_table(table, tracks=wanted)
    assert got_ids.tolist() == wanted
    assert got_genres.tolist() == [genres[140], genres[3], genres[70], genres[3]]
    np.testing.assert_array_equal(got_X, X[[140, 3, 70, 3]])


def test_read_empty_subset(table):
    got_ids, _, got_X = read_feature_table(table, tracks=[])
    assert len(got_ids) == 0
    assert got_X.shape == (0, *SHAPE)


def test_missing_track_is_named(table, content):
    ids, _, _ = content
    with pytest.raises(KeyError) as info:
        read_feature_table(table, tracks=[ids[0], "polka.00042"])
    assert "polka.00042" in str(info.value)
    assert "1 tracks" in str(info.value)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_other_per_track_shapes(tmp_path, shape):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, *shape)).astype(np.float32)
    path = tmp_path / "t.parquet"
    rows = ((f"a.{i}", "a", X[i]) for i in range(10))
    assert write_feature_table(path, rows, feature_set="x", rows_per_group=3) == 10
    _, _, got = read_feature_table(path)
    assert got.shape == X.shape
    np.testing.assert_array_equal(got, X)
    assert feature_table_metadata(path)["feature_names"] == []


def test_float64_input_is_stored_as_float32(tmp_path):
    X = np.array([[0.1, 1 / 3]], dtype=np.float64)
    path = tmp_path / "t.parquet"
    write_feature_table(path, [("a.0", "a", X[0])], feature_set="x")
    _, _, got = read_feature_table(path)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, X.astype(np.float32))


def test_exact_multiple_of_rows_per_group(tmp_path):
    path = tmp_path / "t.parquet"
    rows = [(f"a.{i}", "a", np.full(3, i, np.float32)) for i in range(8)]
    assert write_feature_table(path, rows, feature_set="x", rows_per_group=4) == 8
    assert pq.ParquetFile(path).metadata.num_row_groups == 2
    np.testing.assert_array_equal(read_feature_table(path)[2][:, 0], np.arange(8))


# --------------------------------------------------------------------------- errors


def _assert_nothing_left(folder, target):
    assert not target.exists()
    assert list(folder.iterdir()) == [], "a temporary file was left behind"


def test_shape_mismatch_is_named_and_writes_nothing(tmp_path):
    rows = [(f"a.{i:05d}", "a", np.zeros((4, 7), np.float32)) for i in range(100)]
    rows.insert(90, ("odd.00001", "a", np.zeros((4, 6), np.float32)))
    path = tmp_path / "t.parquet"
    with pytest.raises(ValueError) as info:
        write_feature_table(path, rows, feature_set="mfcc", rows_per_group=16)
    assert "odd.00001" in str(info.value)
    assert "(4, 6)" in str(info.value) and "(4, 7)" in str(info.value)
    _assert_nothing_left(tmp_path, path)


def test_empty_input_raises_and_writes_nothing(tmp_path):
    path = tmp_path / "t.parquet"
    with pytest.raises(ValueError, match="no track has mfcc features"):
        write_feature_table(path, iter([]), feature_set="mfcc")
    _assert_nothing_left(tmp_path, path)


def test_failed_write_is_atomic(tmp_path):
    path = tmp_path / "t.parquet"
    consumed = []

    def rows():
        for i in range(200):
            if i == 150:  # after two row groups have been flushed to the temporary file
                raise RuntimeError("extraction crashed")
            consumed.append(i)
            yield f"a.{i:05d}", "a", np.full((4, 7), i, np.float32)

    with pytest.raises(RuntimeError, match="extraction crashed"):
        write_feature_table(path, rows(), feature_set="mfcc", rows_per_group=64)
    assert len(consumed) == 150
    _assert_nothing_left(tmp_path, path)


def test_failed_write_keeps_the_previous_table(table, content):
    ids, _, X = content

    def rows():
        yield "new.00000", "blues", np.ones(SHAPE, np.float32)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_feature_table(table, rows(), feature_set="mfcc")
    assert [p.name for p in table.parent.iterdir()] == [table.name]
    got_ids, _, got_X = read_feature_table(table)
    assert got_ids.tolist() == ids
    np.testing.assert_array_equal(got_X, X)


def test_not_a_feature_table(tmp_path):
    import pyarrow as pa

    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    with pytest.raises(ValueError, match="not a genrepipe feature table"):
        feature_table_metadata(path)


def test_integer_input_is_stored_as_float32(tmp_path):
    # Any numeric array is cast to float32 as numpy casts it: an integer beyond float32's
    # exact range (2**24 + 1) is rounded, where pyarrow alone refused it.
    X = np.array([[2**24 + 1, 3, -7]], dtype=np.int64)
    path = tmp_path / "t.parquet"
    write_feature_table(path, [("a.0", "a", X[0])], feature_set="x")
    _, _, got = read_feature_table(path)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, X.astype(np.float32))
