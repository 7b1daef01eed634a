"""Cold-start strategy: the most-interacted items of a catalog, weighted by event type.

Answers for every user, so it is the last fallback of the serving order. A user with attributes
gets the popularity within their segments: users sharing an attribute value (such as
``occupation=student``) and the profiles' named segments (rule segments and clusters) they
are in. A user without gets the global list. Popularity figures mix many users,
so each list passes through the aggregate guards (e.g. differential privacy) before anyone sees
it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from infogap.server.config import Settings
from infogap.server.core.modeling import (
    Aggregate,
    ModelTrainer,
    ScoreResult,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
    user_feature_names,
)
from infogap.server.hookspecs import hookimpl

STRATEGY = "popularity"
GLOBAL_KIND = "item_popularity"
SEGMENT_KIND = "segment_item_popularity"
ARRAYS_FILE = "popularity.npz"
NAMED_SEGMENT_PREFIX = "segment:"  # rule and data-driven segments, beside attribute values
META_FILE = "meta.json"


def _normalised(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else scores


class PopularityModel:
    """Scores items by released popularity, global or within the user's segments."""

    strategy = STRATEGY

    def __init__(
        self,
        scores: np.ndarray,
        segment_names: np.ndarray,
        segment_scores: np.ndarray,
        catalog: str,
        user_count: int,
        user_attributes: list[str] | None,
    ) -> None:
        self._scores = scores.astype(np.float32)
        self._segment_names = segment_names
        self._segment_index = {name: i for i, name in enumerate(segment_names.tolist())}
        self._segment_scores = segment_scores.astype(np.float32)  # segments x items, max 1
        self._has_named_segments = any(
            name.startswith(NAMED_SEGMENT_PREFIX) for name in self._segment_index
        )
        self._user_attributes = user_attributes
        self._reason = f"popular in {catalog}"
        self.catalog = catalog
        self.user_count = user_count
        self.parameters: Mapping[str, str] = {"segments": str(len(segment_names))}
        self.metrics: Mapping[str, float] = {}

    def score_user(self, user: UserQuery) -> ScoreResult:
        if self._segment_index and user.attributes:
            names = user_feature_names(user.attributes, self._user_attributes)
            if self._has_named_segments:
                names += [f"{NAMED_SEGMENT_PREFIX}{name}" for name in user.segments]
            rows = [self._segment_index[n] for n in names if n in self._segment_index]
            if rows:
                scores = self._segment_scores[rows].mean(axis=0)
                shown = ", ".join(self._segment_names[r] for r in rows[:2])
                return ScoreResult(scores, f"popular with customers like you ({shown})")
        return ScoreResult(self._scores, self._reason)

    def similar_items(self, item_index: int) -> None:
        return None

    def with_new_items(self, item_features: list[list[str]]) -> PopularityModel:
        # A new item has no popularity yet.
        new = len(item_features)
        return PopularityModel(
            np.concatenate([self._scores, np.zeros(new, dtype=np.float32)]),
            self._segment_names,
            np.hstack([self._segment_scores, np.zeros((len(self._segment_names), new), np.float32)]),
            self.catalog,
            self.user_count,
            self._user_attributes,
        )

    def save(self, directory: Path) -> None:
        np.savez(
            directory / ARRAYS_FILE,
            scores=self._scores,
            segment_names=self._segment_names.astype(str),
            segment_scores=self._segment_scores,
        )
        meta = {
            "catalog": self.catalog,
            "user_count": self.user_count,
            "user_attributes": self._user_attributes,
        }
        (directory / META_FILE).write_text(json.dumps(meta))


class PopularityTrainer:
    strategy = STRATEGY

    def __init__(self, settings: Settings) -> None:
        self._min_segment_users = settings.popularity.min_segment_users
        self._user_attributes = settings.lightfm.user_attributes

    def train(self, data: TrainingData, context: TrainingContext) -> TrainedModel:
        contributions = sp.csr_matrix(data.interactions)
        overall = self._release(context, data, GLOBAL_KIND, contributions)
        segment_names, segment_scores = [], []
        groupings = [
            ("", data.user_features),  # attribute values, e.g. occupation=student
            (NAMED_SEGMENT_PREFIX, data.user_segments),  # the profiles' rule segments, clusters
        ]
        for prefix, grouping in groupings:
            members = grouping.matrix.tocsc()
            for column, name in enumerate(grouping.names):
                users = members.indices[members.indptr[column] : members.indptr[column + 1]]
                if len(users) < self._min_segment_users:
                    continue
                released = self._release(context, data, SEGMENT_KIND, contributions[users])
                segment_names.append(prefix + name)
                segment_scores.append(_normalised(released))
        return PopularityModel(
            overall,
            np.array(segment_names, dtype=object),
            np.array(segment_scores, dtype=np.float32).reshape(len(segment_names), len(data.item_ids)),
            data.catalog,
            len(data.user_ids),
            self._user_attributes,
        )

    @staticmethod
    def _release(
        context: TrainingContext, data: TrainingData, kind: str, contributions: sp.csr_matrix
    ) -> np.ndarray:
        aggregate = Aggregate(
            catalog=data.catalog,
            kind=kind,
            keys=data.item_ids,
            contributions=contributions,
            values=np.asarray(contributions.sum(axis=0)).ravel(),
        )
        return context.release_aggregate(aggregate).values

    def load(self, directory: Path, item_ids: np.ndarray) -> TrainedModel:
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            scores = arrays["scores"]
            segment_names = arrays["segment_names"].astype(object)
            segment_scores = arrays["segment_scores"]
        meta = json.loads((directory / META_FILE).read_text())
        if len(scores) != len(item_ids):
            raise ValueError(f"{directory}: {len(scores)} scores for {len(item_ids)} items")
        return PopularityModel(
            scores,
            segment_names,
            segment_scores,
            meta["catalog"],
            meta["user_count"],
            meta["user_attributes"],
        )


@hookimpl
def infogap_register_models(register: Callable[[ModelTrainer], None], settings: Settings) -> None:
    register(PopularityTrainer(settings))
