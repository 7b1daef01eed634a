"""The built-in implicit ALS model passes the model conformance kit."""

from __future__ import annotations

from infogap.plugins.als import ALSConfig, ALSTrainer
from infogap.server.plugin.testing import ModelConformance


class TestALSConformance(ModelConformance):
    folds_in = True  # least-squares fold-in of the recent items against the item factors

    def make_trainer(self) -> ALSTrainer:
        return ALSTrainer(ALSConfig(factors=8, iterations=5))
