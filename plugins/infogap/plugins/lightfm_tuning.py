"""Hyper-parameter search for the LightFM hybrid model on a validation split of stored events
(``infogap tune``). Random search: a fixed-seed sample of the grid, each candidate fitted on
the training part and scored by NDCG@10 on the held-out part, through the same serving code."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infogap.plugins.lightfm_hybrid import LightFMConfig, LightFMTrainer
from infogap.server.plugin import FeatureSettings, TrainedModel, TrainingContext, TrainingData

SEARCH_SPACE: dict[str, list[Any]] = {
    "no_components": [16, 32, 48, 64],
    "learning_rate": [0.01, 0.03, 0.05, 0.1],
    "epochs": [10, 20, 30, 50],
    "loss": ["warp", "bpr"],
    "item_alpha": [0.0, 1e-6, 1e-5],
    "user_alpha": [0.0, 1e-6, 1e-5],
}


@dataclass(frozen=True)
class Trial:
    parameters: dict[str, Any]
    ndcg_at_10: float
    fit_seconds: float


def candidates(trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` distinct parameter sets sampled from ``SEARCH_SPACE`` (fixed seed)."""
    grid = [dict(zip(SEARCH_SPACE, values)) for values in itertools.product(*SEARCH_SPACE.values())]
    return random.Random(seed).sample(grid, min(trials, len(grid)))


def tune(
    train: TrainingData,
    ndcg_at_10: Callable[[TrainedModel], float],
    base: LightFMConfig,
    features: FeatureSettings,
    context: TrainingContext,
    trials: int,
    seed: int,
    progress: Callable[[Trial], None] = lambda _: None,
) -> list[Trial]:
    """Fits the current config and ``trials`` sampled ones; returns them best first.

    :param ndcg_at_10: scores a fitted model on the held-out part (the host's validation).
    """
    results = []
    unchanged: dict[str, Any] = {}
    for overrides in [unchanged, *candidates(trials, seed)]:
        settings = base.model_copy(update=overrides)
        started = time.perf_counter()
        model = LightFMTrainer(settings, features).train(train, context)
        seconds = time.perf_counter() - started
        score = ndcg_at_10(model)
        parameters = {key: getattr(settings, key) for key in SEARCH_SPACE}
        trial = Trial(parameters, score, seconds)
        progress(trial)
        results.append(trial)
    return sorted(results, key=lambda t: -t.ndcg_at_10)
