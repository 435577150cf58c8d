"""Segment mode: windows as rows, voting, and no track on both sides of a split."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from genrepipe.segments import expand_windows, vote


def test_expand_windows_keeps_each_window_with_its_track():
    X = np.arange(3 * 4 * 2).reshape(3, 4, 2).astype(float)
    windows, track_index = expand_windows(X)
    assert windows.shape == (12, 2)
    np.testing.assert_array_equal(track_index, np.repeat([0, 1, 2], 4))
    for row, track in zip(windows, track_index, strict=True):
        assert any((row == w).all() for w in X[track])
    with pytest.raises(ValueError, match="windows"):
        expand_windows(np.zeros((3, 4)))


def test_mean_log_proba_vote_is_product_of_window_likelihoods():
    proba = np.array([[0.6, 0.4], [0.6, 0.4], [0.1, 0.9], [0.9, 0.1], [0.5, 0.5]])
    track_index = np.array([0, 0, 0, 1, 1])
    out = vote(proba, track_index, 2, "mean_log_proba")
    expected0 = np.prod(proba[:3], axis=0) ** (1 / 3)
    np.testing.assert_allclose(out[0], expected0 / expected0.sum())
    # Majority says track 0 is class 0 (two windows of three); the product says class 1.
    majority = vote(proba, track_index, 2, "majority")
    np.testing.assert_allclose(majority[0], [2 / 3, 1 / 3])
    assert out[0].argmax() == 1
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_vote_rejects_unknown_method_and_empty_tracks():
    proba = np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="unknown vote"):
        vote(proba, np.array([0, 0]), 1, "median")
    with pytest.raises(ValueError, match="without windows"):
        vote(proba, np.array([0, 0]), 2, "majority")


def test_a_window_of_probability_zero_does_not_veto_a_genre():
    # An SVM or GMM can give a window exactly 0: floored at 1e-12, thirty windows for
    # class 0 outweigh one at 0, without a warning of a log of zero.
    proba = np.array([[0.9, 0.1]] * 30 + [[0.0, 1.0]] + [[0.2, 0.8], [0.4, 0.6]])
    track_index = np.array([0] * 31 + [1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = vote(proba, track_index, 2, "mean_log_proba")
    assert np.isfinite(out).all() and (out > 0).all()
    assert out[0].argmax() == 0 and out[1].argmax() == 1
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_majority_ties_go_to_the_first_class_and_each_track_counts_its_own_windows():
    proba = np.array([[0.9, 0.1, 0.0], [0.1, 0.0, 0.9], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    out = vote(proba, np.array([1, 1, 0, 1]), 2, "majority")
    np.testing.assert_allclose(out, [[0, 1, 0], [1 / 3, 0, 2 / 3]])
    tie = vote(np.array([[0.2, 0.8], [0.7, 0.3]]), np.array([0, 0]), 1, "majority")
    np.testing.assert_allclose(tie, [[0.5, 0.5]])
    assert tie[0].argmax() == 0
