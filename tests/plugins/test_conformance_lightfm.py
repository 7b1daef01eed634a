"""The built-in LightFM hybrid model passes the model conformance kit."""

from __future__ import annotations

import numpy as np

from infogap.plugins.lightfm_hybrid import LightFMConfig, LightFMTrainer
from infogap.server.plugin import FeatureSettings, TrainingContext, UserQuery
from infogap.server.plugin.testing import ModelConformance, conformance_data


class TestLightFMConformance(ModelConformance):
    folds_in = True

    def make_trainer(self) -> LightFMTrainer:
        # One thread: LightFM's Hogwild updates are reproducible only then.
        config = LightFMConfig(epochs=10, no_components=8, num_threads=1, random_state=3)
        return LightFMTrainer(config, FeatureSettings())


def test_a_fit_stops_early_when_the_next_epoch_would_pass_the_time_budget():
    data = conformance_data(users=200, items=60).training
    trainer = LightFMTrainer(LightFMConfig(epochs=30, no_components=8, num_threads=1))
    full = trainer.train(data, TrainingContext("c", lambda a: a, time_budget_seconds=None))
    assert full.metrics["epochs_fitted"] == 30
    short = trainer.train(data, TrainingContext("c", lambda a: a, time_budget_seconds=1e-9))
    assert short.metrics["epochs_fitted"] == 1  # at least one, however short the budget
    # Epoch by epoch is the same fit as all at once when the budget allows every epoch.
    ample = trainer.train(data, TrainingContext("c", lambda a: a, time_budget_seconds=600.0))
    query = UserQuery(str(data.user_ids[0]), lambda _: {})
    assert ample.metrics["epochs_fitted"] == 30
    assert np.array_equal(ample.score_user(query).scores, full.score_user(query).scores)
