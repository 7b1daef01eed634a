"""The built-in EASE model passes the model conformance kit."""

from __future__ import annotations

from infogap.plugins.ease import EASEConfig, EASETrainer
from infogap.server.plugin.testing import ModelConformance


class TestEASEConformance(ModelConformance):
    folds_in = True  # scores the training row plus the recent items

    def make_trainer(self) -> EASETrainer:
        return EASETrainer(EASEConfig(l2=10.0))
