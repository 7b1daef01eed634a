"""The built-in LightFM hybrid model passes the model conformance kit."""

from __future__ import annotations

from infogap.plugins.lightfm_hybrid import LightFMConfig, LightFMTrainer
from infogap.server.plugin import FeatureSettings
from infogap.server.plugin.testing import ModelConformance


class TestLightFMConformance(ModelConformance):
    folds_in = True

    def make_trainer(self) -> LightFMTrainer:
        # One thread: LightFM's Hogwild updates are reproducible only then.
        config = LightFMConfig(epochs=10, no_components=8, num_threads=1, random_state=3)
        return LightFMTrainer(config, FeatureSettings())
