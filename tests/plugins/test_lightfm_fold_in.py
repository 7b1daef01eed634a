"""The LightFM fold-in fits a user's vector against the fixed item vectors."""

from __future__ import annotations

import numpy as np
import pytest

from infogap.plugins.lightfm_fold_in import FoldInSettings, SoftmaxFoldIn
from infogap.plugins.lightfm_hybrid import LightFMConfig, LightFMTrainer
from infogap.server.plugin import FeatureSettings, TrainingContext
from infogap.server.plugin.testing import (
    STRANGER,
    ConformanceData,
    ModelConformance,
    conformance_data,
)


class TestMeanFoldInConformance(ModelConformance):
    """The former fold-in, kept as ``fold_in = "mean"`` for comparison, still conforms."""

    folds_in = True

    def make_trainer(self) -> LightFMTrainer:
        config = LightFMConfig(
            epochs=10, no_components=8, num_threads=1, random_state=3, fold_in="mean"
        )
        return LightFMTrainer(config, FeatureSettings())


def _fitter(items: int = 50, components: int = 6, **settings: float) -> SoftmaxFoldIn:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(items, components)).astype(np.float32)
    return SoftmaxFoldIn(
        vectors, rng.normal(size=items).astype(np.float32), FoldInSettings(**settings)
    )


def _rank(fitter: SoftmaxFoldIn, vector: np.ndarray, item: int) -> int:
    scores = fitter._vectors @ vector + fitter._biases
    return int((scores > scores[item]).sum())


def test_no_event_keeps_the_starting_vector() -> None:
    start = np.arange(6, dtype=np.float32)
    assert _fitter().fit(start, np.empty(0, dtype=np.int64)) is start


def test_the_touched_items_rise_and_more_events_move_further() -> None:
    fitter = _fitter()
    start = np.zeros(6, dtype=np.float32)
    touched = np.array([3, 17, 29])
    once = fitter.fit(start, touched[:1])
    thrice = fitter.fit(start, touched)
    for item in touched:
        assert _rank(fitter, thrice, item) < _rank(fitter, start, item)
    assert np.linalg.norm(thrice - start) > np.linalg.norm(once - start)


def test_a_stronger_pull_stays_closer_to_the_start() -> None:
    start = np.ones(6, dtype=np.float32)
    touched = np.array([4, 8])
    loose = _fitter(regularisation=0.5).fit(start, touched)
    tight = _fitter(regularisation=50.0).fit(start, touched)
    assert np.linalg.norm(tight - start) < np.linalg.norm(loose - start)


def test_repeats_count_once_and_the_fit_is_deterministic() -> None:
    fitter = _fitter()
    start = np.zeros(6, dtype=np.float32)
    np.testing.assert_array_equal(
        fitter.fit(start, np.array([5, 5, 9])), fitter.fit(start, np.array([9, 5]))
    )


def test_large_catalogues_fold_in_over_a_fixed_sample() -> None:
    fitter = _fitter(items=300, max_negatives=40)
    assert fitter._sample is not None and len(fitter._sample) == 40
    again = _fitter(items=300, max_negatives=40)
    start = np.zeros(6, dtype=np.float32)
    touched = np.array([250, 260])
    np.testing.assert_array_equal(fitter.fit(start, touched), again.fit(start, touched))
    assert _rank(fitter, fitter.fit(start, touched), 250) < _rank(fitter, start, 250)


@pytest.fixture(scope="module")
def kit() -> ConformanceData:
    return conformance_data()


def test_a_new_users_list_changes_after_each_event(kit: ConformanceData) -> None:
    trainer = LightFMTrainer(
        LightFMConfig(epochs=10, no_components=8, num_threads=1, random_state=3)
    )
    model = trainer.train(kit.training, TrainingContext("kit", lambda a: a))
    for user in (STRANGER, "kit-nobody"):  # with attributes, and without
        previous = model.score_user(kit.query(user))
        events = [1, 3, 5, 7]
        for count in range(1, len(events) + 1):
            current = model.score_user(kit.query(user, events[:count]))
            assert current is not None
            assert previous is None or not np.allclose(previous.scores, current.scores)
            previous = current
