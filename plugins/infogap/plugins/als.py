"""Matrix factorisation by alternating least squares, from ``implicit`` (strategy ``als``).

Training fits ``implicit.cpu.als.AlternatingLeastSquares`` on the summed event weights
(confidence ``alpha x weight``, Hu, Koren and Volinsky's implicit-feedback model). Serving is
numpy: a known user without new events is their trained vector times the item factors. A user
with events since training, or one never seen who has some, is *folded in* by solving the same
least-squares problem ALS solves for a user, against the fixed item factors:
``(YᵀY + λI + Yᵀ(Cᵤ - I)Y) x = YᵀCᵤp(u)`` over their training row plus their recent items.
A user with neither gets None (the next strategy answers).

``ALSModel`` and ``load_als_model`` serve any implicit-feedback ALS factors: the ``spark_als``
plugin saves its Spark-trained factors in this same format, with its own ``ALSObjective``.

Options: ``[plugin_config.als]`` (``ALSConfig``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits

from infogap.plugins.histories import (
    Histories,
    history_contributions,
    training_rows,
    user_reason,
)
from infogap.server.plugin import (
    Contribution,
    ModelTrainer,
    ScoreResult,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
)

STRATEGY = "als"
FACTORS_FILE = "factors.npz"
META_FILE = "meta.json"


class ALSConfig(BaseModel):
    """Implicit-feedback ALS: the ``[plugin_config.als]`` section. The defaults are implicit's
    own, but the fixed seed and one thread."""

    model_config = ConfigDict(extra="forbid")

    factors: int = Field(default=100, ge=1)
    regularization: float = Field(default=0.01, ge=0)
    alpha: float = Field(
        default=1.0, gt=0, description="Confidence per unit of event weight (C = alpha x weight)."
    )
    iterations: int = Field(default=15, ge=1)
    random_state: int = Field(default=42, description="Fixed seed: two trainings agree.")
    num_threads: int = Field(
        default=1, ge=1, description="implicit's threads (BLAS threads are the server's)."
    )


@dataclass(frozen=True)
class ALSObjective:
    """The per-user least-squares problem the factors were trained with, which fold-in solves
    again: confidence ``c = confidence_offset + alpha x weight`` per item of the history, and
    the ridge ``λ`` (times the history's length when ``regularization_per_interaction``, as
    Spark's ALS-WR weights it). implicit's ALS is the default: ``c = alpha x weight``, fixed λ.
    """

    regularization: float
    alpha: float
    confidence_offset: float = 0.0
    regularization_per_interaction: bool = False


class ALSModel:
    """User and item factors; fold-in is a small linear solve per request."""

    def __init__(
        self,
        *,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        histories: Histories,
        item_ids: np.ndarray,
        objective: ALSObjective,
        parameters: Mapping[str, str],
        metrics: Mapping[str, float],
        strategy: str = STRATEGY,
    ) -> None:
        self.strategy = strategy
        self._user_factors = user_factors.astype(np.float32)
        self._item_factors = item_factors.astype(np.float32)
        self._histories = histories
        self._item_ids = item_ids
        self.objective = objective
        y = self._item_factors.astype(np.float64)
        self._item_gram = y.T @ y  # YᵀY, shared by every fold-in
        norms = np.linalg.norm(self._item_factors, axis=1, keepdims=True)
        self._item_unit_vectors = self._item_factors / np.maximum(norms, 1e-12)
        self.parameters = parameters
        self.metrics = metrics
        self.user_count = len(histories)

    def fold_in(self, positions: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The user vector ALS would compute for this history with the item factors fixed."""
        objective = self.objective
        y = self._item_factors[positions].astype(np.float64)
        confidence = objective.confidence_offset + objective.alpha * weights.astype(np.float64)
        ridge = objective.regularization
        if objective.regularization_per_interaction:
            ridge *= len(positions)
        a = self._item_gram + ridge * np.eye(y.shape[1]) + (y.T * (confidence - 1.0)) @ y
        b = y.T @ confidence
        return np.linalg.solve(a, b).astype(np.float32)

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        row = self._histories.row_of(user.user_id)
        history = self._histories.current(user)
        if history is None:
            return None
        if row is not None and not len(user.recent_item_positions):
            vector = self._user_factors[row]  # nothing new: the trained vector
        else:
            vector = self.fold_in(*history)
        return ScoreResult(self._item_factors @ vector, user_reason(*history, self._item_ids))

    def similar_items(self, item_index: int) -> np.ndarray:
        return self._item_unit_vectors @ self._item_unit_vectors[item_index]

    def item_vectors(self, item_positions: np.ndarray) -> np.ndarray:
        """The items' factors (``ItemVectorModel``, for diversity)."""
        return self._item_factors[item_positions]

    def explain(
        self, user: UserQuery, item_positions: np.ndarray, limit: int
    ) -> list[list[Contribution]]:
        """The user's items whose factors have the largest dot products with each item's."""
        history = self._histories.current(user)
        if history is None:
            return [[] for _ in item_positions]
        positions = history[0]
        pull = self._item_factors[item_positions] @ self._item_factors[positions].T
        return history_contributions(pull, positions, limit)

    def without_user(self, user_id: str) -> ALSModel:
        """The model without the user's vector, history and id (erasure)."""
        row = self._histories.row_of(user_id)
        if row is None:
            return self
        keep = np.arange(len(self._user_factors)) != row
        return ALSModel(
            user_factors=self._user_factors[keep],
            item_factors=self._item_factors,
            histories=self._histories.without(user_id),
            item_ids=self._item_ids,
            objective=self.objective,
            parameters=self.parameters,
            metrics=self.metrics,
            strategy=self.strategy,
        )

    def save(self, directory: Path) -> None:
        np.savez(
            directory / FACTORS_FILE,
            user_factors=self._user_factors,
            item_factors=self._item_factors,
        )
        self._histories.save(directory)
        meta = {
            **asdict(self.objective),
            "parameters": dict(self.parameters),
            "metrics": dict(self.metrics),
        }
        (directory / META_FILE).write_text(json.dumps(meta))


class ALSTrainer:
    """Fits ``ALSModel``s with the configured hyper-parameters."""

    strategy = STRATEGY

    def __init__(self, config: ALSConfig) -> None:
        self._config = config

    def train(self, data: TrainingData, context: TrainingContext) -> ALSModel:
        c = self._config
        rows = training_rows(data.interactions)
        started = time.perf_counter()
        # implicit parallelises itself: a BLAS thread pool inside it only slows it down.
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(
                factors=c.factors,
                regularization=c.regularization,
                alpha=c.alpha,
                iterations=c.iterations,
                random_state=c.random_state,
                num_threads=c.num_threads,
            )
            als.fit(rows, show_progress=False)
        fit_seconds = time.perf_counter() - started
        return ALSModel(
            user_factors=np.asarray(als.user_factors),
            item_factors=np.asarray(als.item_factors),
            histories=Histories(data.user_ids, rows),
            item_ids=data.item_ids,
            objective=ALSObjective(c.regularization, c.alpha),
            parameters={key: str(value) for key, value in c.model_dump().items()},
            metrics={"fit_seconds": fit_seconds},
        )

    def load(self, directory: Path, item_ids: np.ndarray) -> ALSModel:
        return load_als_model(directory, item_ids, self.strategy)


def load_als_model(directory: Path, item_ids: np.ndarray, strategy: str) -> ALSModel:
    """Reads back what ``ALSModel.save`` wrote, whichever trainer fitted the factors; a model
    saved before ``ALSObjective`` had its optional fields gets their (implicit's) defaults."""
    meta = json.loads((directory / META_FILE).read_text())
    with np.load(directory / FACTORS_FILE, allow_pickle=False) as arrays:
        user_factors, item_factors = arrays["user_factors"], arrays["item_factors"]
    if len(item_factors) != len(item_ids):
        raise ValueError(f"{directory}: {len(item_factors)} item factors, {len(item_ids)} items")
    objective = ALSObjective(
        regularization=meta["regularization"],
        alpha=meta["alpha"],
        confidence_offset=meta.get("confidence_offset", 0.0),
        regularization_per_interaction=meta.get("regularization_per_interaction", False),
    )
    return ALSModel(
        user_factors=user_factors,
        item_factors=item_factors,
        histories=Histories.load(directory),
        item_ids=item_ids,
        objective=objective,
        parameters=meta["parameters"],
        metrics=meta["metrics"],
        strategy=strategy,
    )


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return ALSConfig


@hookimpl
def infogap_register_models(register: Callable[[ModelTrainer], None], config: ALSConfig) -> None:
    register(ALSTrainer(config))
