"""EASE (Steck, 2019): a closed-form item-item model, in numpy (strategy ``ease``).

``B = I - P·diag(1/diag(P))`` with ``P = (XᵀX + λI)⁻¹``, X the binary users x items matrix
of the items that have events. B is dense, so EASE fits catalogs of up to ``max_items`` such
items; above it the trainer raises ``ModelSkipped`` with the reason, and Train goes on with
the other strategies. A user is scored from their history as it is now (training row plus
``UserQuery.recent_item_positions``) times B; a user with no history gets None.

Options: ``[plugin_config.ease]`` (``EASEConfig``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from scipy.linalg import lapack

from infogap.plugins.histories import (
    Histories,
    history_contributions,
    training_rows,
    user_reason,
)
from infogap.server.plugin import (
    Contribution,
    ModelSkipped,
    ModelTrainer,
    ScoreResult,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
)

STRATEGY = "ease"
WEIGHTS_FILE = "ease.npz"
META_FILE = "meta.json"


class EASEConfig(BaseModel):
    """EASE: the ``[plugin_config.ease]`` section."""

    model_config = ConfigDict(extra="forbid")

    l2: float = Field(default=300.0, gt=0, description="λ, the L2 penalty on B.")
    max_items: int = Field(
        default=20_000,
        ge=1,
        description="EASE is skipped for catalogs with more items with events than this: B is "
        "a dense items x items matrix (20,000 items: 1.6 GB in float32).",
    )


PROBE_SIZE = 1024  # the inversion timed to foresee a fit's: tens of milliseconds
FORESEEN_FROM = 2_000  # fewer items fit in well under a second: not worth the probe


def foreseen_seconds(size: int) -> float:
    """How long inverting a ``size`` x ``size`` Gram matrix will take on this machine now: a
    ``PROBE_SIZE`` one is timed (best of three), and the cost grows with the cube of the size."""
    rng = np.random.default_rng(0)
    sample = rng.random((PROBE_SIZE, PROBE_SIZE), dtype=np.float32)
    gram = np.asfortranarray(sample @ sample.T + PROBE_SIZE * np.eye(PROBE_SIZE, dtype=np.float32))
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        factor, _ = lapack.spotrf(gram.copy(order="F"), lower=True, overwrite_a=True, clean=False)
        lapack.spotri(factor, lower=True, overwrite_c=True)
        timings.append(time.perf_counter() - started)
    return min(timings) * (size / PROBE_SIZE) ** 3


SYMMETRISE_BLOCK = 1024  # rows copied at a time, so no second n x n matrix is allocated


def ease_weights(binary: sp.csr_matrix, l2: float) -> np.ndarray:
    """B over the columns of ``binary`` (float32, zero diagonal), computed in place in one
    dense float32 matrix: the Gram matrix, its Cholesky factor, its inverse P, then B."""
    matrix = np.asarray((binary.T @ binary).toarray(), dtype=np.float32, order="F")
    matrix[np.diag_indices_from(matrix)] += l2
    # XᵀX + λI is symmetric positive definite: invert it through its Cholesky factor.
    factor, info = lapack.spotrf(matrix, lower=True, overwrite_a=True, clean=False)
    if info != 0:
        raise ValueError(f"EASE: the Gram matrix is not positive definite (LAPACK info {info})")
    precision, info = lapack.spotri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise ValueError(f"EASE: the Gram matrix cannot be inverted (LAPACK info {info})")
    precision = np.asarray(precision)
    size = len(precision)
    for start in range(0, size, SYMMETRISE_BLOCK):  # spotri fills the lower triangle only
        end = min(start + SYMMETRISE_BLOCK, size)
        block = precision[start:end, start:end]
        precision[start:end, start:end] = np.tril(block) + np.tril(block, -1).T
        precision[start:end, end:] = precision[end:, start:end].T
    diagonal = np.diag(precision).copy()
    precision /= -diagonal  # column j divided by -P_jj
    precision[np.diag_indices_from(precision)] = 0.0
    return np.ascontiguousarray(precision)


class EASEModel:
    """B over the items with events, and the histories of the users it knows."""

    strategy = STRATEGY

    def __init__(
        self,
        weights: np.ndarray,
        columns: np.ndarray,
        histories: Histories,
        item_ids: np.ndarray,
        parameters: Mapping[str, str],
        metrics: Mapping[str, float],
    ) -> None:
        self._weights = weights  # len(columns) x len(columns)
        self._columns = columns  # item positions B covers, ascending
        self._column_of = np.full(len(item_ids), -1, dtype=np.int64)
        self._column_of[columns] = np.arange(len(columns))
        self._histories = histories
        self._item_ids = item_ids
        self.parameters = parameters
        self.metrics = metrics
        self.user_count = len(histories)

    def _spread(self, covered: np.ndarray) -> np.ndarray:
        """Scores over the whole index space; items B does not cover rank last."""
        floor = float(covered.min()) - 1.0 if len(covered) else 0.0
        scores = np.full(len(self._item_ids), floor, dtype=np.float32)
        scores[self._columns] = covered
        return scores

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        history = self._histories.current(user)
        if history is None:
            return None
        positions, weights = history
        columns = self._column_of[positions]
        known = columns >= 0
        # EASE is fit on binary rows: an item counts once, however often it was touched.
        covered = self._weights[columns[known]].sum(axis=0)
        return ScoreResult(self._spread(covered), user_reason(positions, weights, self._item_ids))

    def explain(
        self, user: UserQuery, item_positions: np.ndarray, limit: int
    ) -> list[list[Contribution]]:
        """The user's items whose weight in B towards each item is largest: the terms of the
        sum ``score_user`` computes (items B does not cover have none)."""
        history = self._histories.current(user)
        if history is None:
            return [[] for _ in item_positions]
        positions = history[0][self._column_of[history[0]] >= 0]
        targets = self._column_of[item_positions]
        pull = np.zeros((len(item_positions), len(positions)), dtype=np.float64)
        covered = targets >= 0
        pull[covered] = self._weights[np.ix_(self._column_of[positions], targets[covered])].T
        return history_contributions(pull, positions, limit)

    def similar_items(self, item_index: int) -> np.ndarray | None:
        column = self._column_of[item_index]
        if column < 0:
            return None
        return self._spread(self._weights[column])

    def without_user(self, user_id: str) -> EASEModel:
        """The model without the user's history and id (erasure)."""
        return EASEModel(
            self._weights,
            self._columns,
            self._histories.without(user_id),
            self._item_ids,
            self.parameters,
            self.metrics,
        )

    def save(self, directory: Path) -> None:
        np.savez(directory / WEIGHTS_FILE, weights=self._weights, columns=self._columns)
        self._histories.save(directory)
        meta = {"parameters": dict(self.parameters), "metrics": dict(self.metrics)}
        (directory / META_FILE).write_text(json.dumps(meta))


class EASETrainer:
    """Fits ``EASEModel``s, or skips catalogs with more than ``max_items`` items with events."""

    strategy = STRATEGY

    def __init__(self, config: EASEConfig) -> None:
        self._config = config

    def train(self, data: TrainingData, context: TrainingContext) -> EASEModel:
        c = self._config
        rows = training_rows(data.interactions)
        columns = np.flatnonzero(np.diff(rows.tocsc().indptr))  # items with events
        if len(columns) > c.max_items:
            raise ModelSkipped(
                f"{len(columns):,} items have events, more than max_items {c.max_items:,} "
                "(EASE's dense item-item matrix)"
            )
        budget = context.time_budget_seconds
        if budget is not None and len(columns) >= FORESEEN_FROM:
            foreseen = foreseen_seconds(len(columns))
            if foreseen > budget:
                raise ModelSkipped(
                    f"inverting {len(columns):,} items' Gram matrix would take about "
                    f"{foreseen:.0f} s here, more than the {budget:g} s budget "
                    "(lifecycle.model_time_budget_seconds)"
                )
        binary = sp.csr_matrix(rows[:, columns], dtype=np.float32)
        binary.data[:] = 1.0
        started = time.perf_counter()
        weights = ease_weights(binary, c.l2)
        fit_seconds = time.perf_counter() - started
        return EASEModel(
            weights,
            columns.astype(np.int64),
            Histories(data.user_ids, rows),
            data.item_ids,
            {"l2": str(c.l2), "max_items": str(c.max_items)},
            {"fit_seconds": fit_seconds, "items_fitted": float(len(columns))},
        )

    def load(self, directory: Path, item_ids: np.ndarray) -> EASEModel:
        meta = json.loads((directory / META_FILE).read_text())
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
            weights, columns = arrays["weights"], arrays["columns"]
        if len(columns) and columns.max() >= len(item_ids):
            raise ValueError(f"{directory}: B covers items beyond the {len(item_ids)} given")
        return EASEModel(
            weights,
            columns,
            Histories.load(directory),
            item_ids,
            meta["parameters"],
            meta["metrics"],
        )


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return EASEConfig


@hookimpl
def infogap_register_models(register: Callable[[ModelTrainer], None], config: EASEConfig) -> None:
    register(EASETrainer(config))
