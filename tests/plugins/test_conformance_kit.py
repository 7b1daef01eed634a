"""The conformance kit's own checks catch what they claim to catch."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from infogap.server.plugin import ScoreResult
from infogap.server.plugin.testing import _check_result, conformance_data, saved_strings, unpickles


def test_unpickles_tells_pickles_from_arrays_and_json(tmp_path):
    assert unpickles(pickle.dumps({"a": np.arange(3)}))
    assert unpickles(pickle.dumps([1, 2]))
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.array(["a", "b"]), values=np.arange(3.0))
    assert not unpickles(buffer.getvalue())
    assert not unpickles(b'{"tags": [["red"]], "users": 3}')


def test_score_checks_reject_wrong_shape_and_dtype():
    with pytest.raises(AssertionError, match="float64"):
        _check_result(ScoreResult(np.zeros(3), "why"), 3, "u")
    with pytest.raises(AssertionError, match="scores for 4 items"):
        _check_result(ScoreResult(np.zeros(3, np.float32), "why"), 4, "u")
    _check_result(ScoreResult(np.zeros(4, np.float32), "why"), 4, "u")


def test_saved_strings_finds_ids_in_arrays_and_json(tmp_path):
    np.savez(tmp_path / "m.npz", user_ids=np.array(["kit-user-003", "kit-user-004"]))
    (tmp_path / "meta.json").write_text('{"last": "kit-user-009"}')
    strings = saved_strings(tmp_path)
    assert "kit-user-003" in strings and any("kit-user-009" in s for s in strings)


def test_the_data_set_has_two_tastes_and_items_without_events():
    data = conformance_data(users=10, items=16)
    interactions = data.training.interactions.tocsr()
    assert interactions.shape == (10, 16) and interactions[:, 14:].nnz == 0
    # User 0 is red: most of what they touched is red (even positions).
    touched = interactions[0].indices
    assert (touched % 2 == 0).sum() > (touched % 2 == 1).sum()
    assert data.user_attributes["kit-stranger"] == {"segment": "red"}
