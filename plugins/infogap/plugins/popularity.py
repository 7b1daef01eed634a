"""Cold-start strategy: the most-interacted items of a catalog, weighted by event type.

Answers for every user, so it is the last fallback of the serving order. A user with attributes
gets the popularity within their segments: users sharing an attribute value (such as
``occupation=student``) and the profiles' named segments (rule segments and clusters) they
are in. A user without gets the global list. Popularity figures mix many users,
so each list passes through the aggregate guards (e.g. differential privacy) before anyone sees
it.

Options: the ``[popularity]`` section of the server config (``PopularityConfig``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from infogap.server.plugin import (
    Aggregate,
    Contribution,
    FeatureSettings,
    ModelTrainer,
    ResourceExhausted,
    ScoreResult,
    TrainedModel,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
    user_feature_names,
)

log = logging.getLogger(__name__)

STRATEGY = "popularity"
GLOBAL_KIND = "item_popularity"
SEGMENT_KIND = "segment_item_popularity"
ARRAYS_FILE = "popularity.npz"
WEIGHTS_FILE = "contributions.npz"  # scipy sparse, saved without pickle
MEMBERS_FILE = "segment_members.npz"
NAMED_SEGMENT_PREFIX = "segment:"  # rule and data-driven segments, beside attribute values
META_FILE = "meta.json"


class PopularityConfig(BaseModel):
    """The cold-start popularity model: the ``[popularity]`` section."""

    model_config = ConfigDict(extra="forbid")

    min_segment_users: int = Field(
        default=20,
        ge=1,
        description="A user attribute value (e.g. occupation=student) shared by at least this many "
        "users gets its own popularity list, served to new users who have that value.",
    )


def _normalised(values: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum, so lists of different segments mix fairly."""
    values = np.atleast_2d(values)
    top = values.max(axis=1, keepdims=True) if values.shape[1] else np.ones((len(values), 1))
    return np.divide(values, top, out=np.zeros_like(values), where=top > 0)


@dataclass(frozen=True)
class Contributions:
    """Who contributed what, kept so an erased user's share can be taken back out."""

    user_ids: np.ndarray  # row i of the matrices below is user_ids[i]
    weights: sp.csr_matrix  # users x items: each user's summed event weights
    segment_members: sp.csr_matrix  # segments x users, 1 where the user counted in the segment

    def without(self, row: int) -> Contributions:
        keep = np.arange(len(self.user_ids)) != row
        return Contributions(
            self.user_ids[keep], self.weights[keep], sp.csr_matrix(self.segment_members[:, keep])
        )


class PopularityModel:
    """Scores items by released popularity, global or within the user's segments."""

    strategy = STRATEGY

    def __init__(
        self,
        scores: np.ndarray,
        segment_names: np.ndarray,
        segment_values: np.ndarray,
        contributions: Contributions,
        catalog: str,
        user_attributes: list[str] | None,
    ) -> None:
        self._scores = scores.astype(np.float32)
        self._segment_names = segment_names
        self._segment_index = {name: i for i, name in enumerate(segment_names.tolist())}
        self._segment_values = segment_values.astype(np.float32)  # segments x items, as released
        self._segment_scores = _normalised(self._segment_values)
        self._has_named_segments = any(
            name.startswith(NAMED_SEGMENT_PREFIX) for name in self._segment_index
        )
        self._contributions = contributions
        self._user_index = {u: i for i, u in enumerate(contributions.user_ids.tolist())}
        self._user_attributes = user_attributes
        self._reason = f"popular in {catalog}"
        self.catalog = catalog
        self.user_count = len(contributions.user_ids)
        self.parameters: Mapping[str, str] = {"segments": str(len(segment_names))}
        self.metrics: Mapping[str, float] = {}

    def _segment_rows(self, user: UserQuery) -> list[int]:
        """The rows of the segments the user is in that have a list of their own."""
        if not (self._segment_index and user.attributes):
            return []
        names = user_feature_names(user.attributes, self._user_attributes)
        if self._has_named_segments:
            names += [f"{NAMED_SEGMENT_PREFIX}{name}" for name in user.segments]
        return [self._segment_index[n] for n in names if n in self._segment_index]

    def score_user(self, user: UserQuery) -> ScoreResult:
        rows = self._segment_rows(user)
        if rows:
            scores = self._segment_scores[rows].mean(axis=0)
            shown = ", ".join(self._segment_names[r] for r in rows[:2])
            return ScoreResult(scores, f"popular with customers like you ({shown})")
        return ScoreResult(self._scores, self._reason)

    def explain(
        self, user: UserQuery, item_positions: np.ndarray, limit: int
    ) -> list[list[Contribution]]:
        """The user's segments (``age=25-34``, ``segment:loyal``...) in which each item is most
        popular, by its share of the segment's top item; nothing for the global list."""
        rows = np.array(self._segment_rows(user), dtype=np.int64)
        if not len(rows):
            return [[] for _ in item_positions]
        shares = self._segment_scores[rows][:, item_positions]  # segments x items
        explained = []
        for column in shares.T:
            best = np.argsort(-column, kind="stable")[:limit]
            explained.append(
                [
                    Contribution(float(column[b]), feature=str(self._segment_names[rows[b]]))
                    for b in best
                    if column[b] > 0
                ]
            )
        return explained

    def similar_items(self, item_index: int) -> None:
        return None

    def with_new_items(self, item_features: list[list[str]]) -> PopularityModel:
        # A new item has no popularity yet.
        new = len(item_features)
        c = self._contributions
        weights = sp.hstack([c.weights, sp.csr_matrix((c.weights.shape[0], new))], format="csr")
        return PopularityModel(
            np.concatenate([self._scores, np.zeros(new, dtype=np.float32)]),
            self._segment_names,
            np.hstack(
                [self._segment_values, np.zeros((len(self._segment_names), new), np.float32)]
            ),
            Contributions(c.user_ids, weights, c.segment_members),
            self.catalog,
            self._user_attributes,
        )

    def without_user(self, user_id: str) -> PopularityModel:
        """The model with the user's weights taken out of every list they counted in (with
        differential privacy on: the noisy figure minus the user's own weights)."""
        row = self._user_index.get(user_id)
        if row is None:
            return self
        c = self._contributions
        share = c.weights[row].toarray().ravel().astype(np.float32)
        segments = c.segment_members[:, row].nonzero()[0]
        segment_values = self._segment_values.copy()
        segment_values[segments] = np.maximum(segment_values[segments] - share, 0)
        return PopularityModel(
            np.maximum(self._scores - share, 0),
            self._segment_names,
            segment_values,
            c.without(row),
            self.catalog,
            self._user_attributes,
        )

    def save(self, directory: Path) -> None:
        c = self._contributions
        np.savez(
            directory / ARRAYS_FILE,
            scores=self._scores,
            segment_names=self._segment_names.astype(str),
            segment_values=self._segment_values,
            user_ids=c.user_ids.astype(str),
        )
        sp.save_npz(directory / WEIGHTS_FILE, c.weights)
        sp.save_npz(directory / MEMBERS_FILE, c.segment_members)
        meta = {"catalog": self.catalog, "user_attributes": self._user_attributes}
        (directory / META_FILE).write_text(json.dumps(meta))


class PopularityTrainer:
    """Counts popularity lists, global and per segment, through the aggregate guards."""

    strategy = STRATEGY

    def __init__(self, config: PopularityConfig, features: FeatureSettings | None = None) -> None:
        self._min_segment_users = config.min_segment_users
        self._user_attributes = (features or FeatureSettings()).user_attributes

    def train(self, data: TrainingData, context: TrainingContext) -> TrainedModel:
        weights = sp.csr_matrix(data.interactions)
        overall = self._release(context, data, GLOBAL_KIND, weights)
        segment_names, segment_values, segment_users = [], [], []
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
                segment_name = prefix + name
                try:
                    released = self._release(
                        context, data, SEGMENT_KIND, weights[users], scope=segment_name
                    )
                except ResourceExhausted as exhausted:
                    # A privacy budget can run out: the global list (released first) still
                    # serves, and the remaining segments get no list of their own.
                    log.warning("no popularity list for segment %s: %s", segment_name, exhausted)
                    break
                segment_values.append(released.values)
                segment_names.append(segment_name)
                segment_users.append(users)
        membership = sp.csr_matrix(
            (
                np.ones(sum(len(u) for u in segment_users), dtype=np.float32),
                (
                    np.repeat(np.arange(len(segment_users)), [len(u) for u in segment_users]),
                    np.concatenate(segment_users) if segment_users else np.empty(0, np.int64),
                ),
            ),
            shape=(len(segment_users), len(data.user_ids)),
        )
        return PopularityModel(
            overall.values,
            np.array(segment_names, dtype=object),
            np.array(segment_values, dtype=np.float32).reshape(
                len(segment_names), len(data.item_ids)
            ),
            # What the released figures count (a privacy guard may have bounded it), so an
            # erased user's share is taken out in the same units.
            Contributions(data.user_ids, overall.contributions, membership),
            data.catalog,
            self._user_attributes,
        )

    @staticmethod
    def _release(
        context: TrainingContext,
        data: TrainingData,
        kind: str,
        contributions: sp.csr_matrix,
        scope: str = "",
    ) -> Aggregate:
        aggregate = Aggregate(
            catalog=data.catalog,
            kind=kind,
            scope=scope,
            keys=data.item_ids,
            contributions=contributions,
            values=np.asarray(contributions.sum(axis=0)).ravel(),
        )
        return context.release_aggregate(aggregate)

    def load(self, directory: Path, item_ids: np.ndarray) -> TrainedModel:
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            scores = arrays["scores"]
            segment_names = arrays["segment_names"].astype(object)
            segment_values = arrays["segment_values"]
            user_ids = arrays["user_ids"].astype(object)
        meta = json.loads((directory / META_FILE).read_text())
        if len(scores) != len(item_ids):
            raise ValueError(f"{directory}: {len(scores)} scores for {len(item_ids)} items")
        contributions = Contributions(
            user_ids,
            sp.load_npz(directory / WEIGHTS_FILE).tocsr(),
            sp.load_npz(directory / MEMBERS_FILE).tocsr(),
        )
        return PopularityModel(
            scores,
            segment_names,
            segment_values,
            contributions,
            meta["catalog"],
            meta["user_attributes"],
        )


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return PopularityConfig


@hookimpl
def infogap_register_models(
    register: Callable[[ModelTrainer], None], config: PopularityConfig, features: FeatureSettings
) -> None:
    register(PopularityTrainer(config, features))
