"""Users' interaction histories as the neighbour, EASE and ALS models score them: the training
rows of known users plus what they did since training (``UserQuery.recent_item_positions``).

Not a plugin (it registers nothing): a helper the built-in model plugins share.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from infogap.server.plugin import Contribution, UserQuery

RECENT_WEIGHT = 1.0  # an event since training counts as one interaction of weight 1
ROWS_FILE = "histories.npz"  # scipy sparse, saved without pickle
USERS_FILE = "history_users.npy"


class Histories:
    """The training rows (users x items, summed event weights) of the users a model knows."""

    def __init__(self, user_ids: np.ndarray, rows: sp.csr_matrix) -> None:
        self.user_ids = user_ids
        self.rows = sp.csr_matrix(rows, dtype=np.float32)
        self._index = {user_id: row for row, user_id in enumerate(user_ids.tolist())}

    def __len__(self) -> int:
        return len(self.user_ids)

    def row_of(self, user_id: str) -> int | None:
        return self._index.get(user_id)

    def current(self, user: UserQuery) -> tuple[np.ndarray, np.ndarray] | None:
        """``(item positions, weights)`` of the user's history now: their training row, if
        known, plus each item touched since training (duplicates summed); None when empty."""
        recent = user.recent_item_positions
        row = self._index.get(user.user_id)
        if row is None and not len(recent):
            return None
        if row is None:
            positions, weights = np.empty(0, np.int64), np.empty(0, np.float32)
        else:
            start, end = self.rows.indptr[row], self.rows.indptr[row + 1]
            positions = self.rows.indices[start:end].astype(np.int64)
            weights = self.rows.data[start:end]
        if len(recent):
            inside = recent[recent < self.rows.shape[1]]  # items beyond the index space: none
            positions = np.concatenate([positions, inside.astype(np.int64)])
            weights = np.concatenate([weights, np.full(len(inside), RECENT_WEIGHT, np.float32)])
            positions, inverse = np.unique(positions, return_inverse=True)
            weights = np.bincount(inverse, weights=weights).astype(np.float32)
        if not len(positions):
            return None
        return positions, weights

    def without(self, user_id: str) -> Histories:
        row = self._index.get(user_id)
        if row is None:
            return self
        keep = np.arange(len(self.user_ids)) != row
        return Histories(self.user_ids[keep], self.rows[keep])

    def save(self, directory: Path) -> None:
        sp.save_npz(directory / ROWS_FILE, self.rows)
        np.save(directory / USERS_FILE, self.user_ids.astype(str), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> Histories:
        user_ids = np.load(directory / USERS_FILE, allow_pickle=False).astype(object)
        return cls(user_ids, sp.load_npz(directory / ROWS_FILE).tocsr())


def training_rows(interactions: sp.spmatrix) -> sp.csr_matrix:
    """The interactions as sorted float32 CSR, the form every model here fits on."""
    rows = sp.csr_matrix(interactions, dtype=np.float32)
    rows.sum_duplicates()
    rows.sort_indices()
    return rows


def user_reason(positions: np.ndarray, weights: np.ndarray, item_ids: np.ndarray) -> str:
    """The reason naming the user's two heaviest items: "because you liked X and Y"."""
    order = np.argsort(-weights, kind="stable")[:2]
    named = [str(item_ids[p]) for p in positions[order] if p < len(item_ids)]
    return "because you liked " + " and ".join(named) if named else "matches your activity"


def history_contributions(
    pull: np.ndarray, positions: np.ndarray, limit: int
) -> list[list[Contribution]]:
    """For each row of ``pull`` (recommended items x the history's ``positions``: how much each
    own item pulls the recommended one up), the ``limit`` strongest positive ones, as the
    ``ExplainingModel`` evidence of the neighbour, EASE and ALS models."""
    pull = np.asarray(pull, dtype=np.float64)
    best = np.argsort(-pull, axis=1, kind="stable")[:, :limit]
    chosen = np.take_along_axis(pull, best, axis=1).tolist()
    items = positions.tolist()
    return [
        [Contribution(v, item_position=items[c]) for c, v in zip(columns, values) if v > 0]
        for columns, values in zip(best.tolist(), chosen)
    ]
