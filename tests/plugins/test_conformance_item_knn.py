"""The built-in item-kNN models (cosine and BM25) pass the model conformance kit."""

from __future__ import annotations

from infogap.plugins.item_knn import BM25, COSINE, ItemKNNConfig, ItemKNNTrainer
from infogap.server.plugin.testing import ModelConformance


class TestItemKNNCosineConformance(ModelConformance):
    folds_in = True  # scores the training row plus the recent items

    def make_trainer(self) -> ItemKNNTrainer:
        return ItemKNNTrainer(COSINE, ItemKNNConfig(neighbours=10))


class TestItemKNNBM25Conformance(ModelConformance):
    folds_in = True

    def make_trainer(self) -> ItemKNNTrainer:
        return ItemKNNTrainer(BM25, ItemKNNConfig(neighbours=10))
