"""An example InfoGap plugin: a model, a reranker, an aggregate guard and a profile contributor,
with options of its own. Everything it uses comes from ``infogap.server.plugin``.

Options come from the server config, ``[plugin_config.example]``, validated by ``ExampleConfig``
when the server starts:

- ``promote_tag``: items with this tag are moved to the top of every recommendation list.
- ``min_contributors``: popularity figures backed by fewer distinct users are released as 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from infogap.server.plugin import (
    Aggregate,
    AggregateGuard,
    FeatureSettings,
    ModelTrainer,
    ProfileContributor,
    ProfileDraft,
    RerankContext,
    Reranker,
    ScoredItem,
    ScoreResult,
    TrainingContext,
    TrainingData,
    UserQuery,
    hookimpl,
)

NAME = "example"
TAGS_FILE = "tags.json"


class ExampleConfig(BaseModel):
    """The plugin's options, ``[plugin_config.example]``."""

    model_config = ConfigDict(extra="forbid")

    promote_tag: str | None = Field(default=None, description="Tag moved to the top of lists.")
    min_contributors: int | None = Field(
        default=None, ge=1, description="Popularity figures of fewer users are released as 0."
    )


class FavouriteTagModel:
    """Scores 1 for items carrying the user's ``favourite_tag`` attribute; None without one."""

    strategy = "favourite_tag"
    parameters: dict[str, str] = {}
    metrics: dict[str, float] = {}

    def __init__(self, item_tags: list[set[str]], user_count: int) -> None:
        self._item_tags = item_tags
        self.user_count = user_count

    def score_user(self, user: UserQuery) -> ScoreResult | None:
        tag = user.attributes.get("favourite_tag")
        if tag is None:
            return None
        scores = np.array([tag in tags for tags in self._item_tags], dtype=np.float32)
        return ScoreResult(scores, f"you like {tag}")

    def similar_items(self, item_index: int) -> None:
        return None

    def save(self, directory: Path) -> None:
        tags = [sorted(t) for t in self._item_tags]
        (directory / TAGS_FILE).write_text(json.dumps({"tags": tags, "users": self.user_count}))


class FavouriteTagTrainer:
    strategy = FavouriteTagModel.strategy

    def train(self, data: TrainingData, context: TrainingContext) -> FavouriteTagModel:
        names = data.item_features.names
        matrix = data.item_features.matrix.tocsr()
        tags = [
            {
                names[j][len("tag=") :]
                for j in matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]]
                if names[j].startswith("tag=")
            }
            for i in range(matrix.shape[0])
        ]
        return FavouriteTagModel(tags, len(data.user_ids))

    def load(self, directory: Path, item_ids: np.ndarray) -> FavouriteTagModel:
        saved = json.loads((directory / TAGS_FILE).read_text())
        return FavouriteTagModel([set(tags) for tags in saved["tags"]], saved["users"])


class PromoteTag:
    name = "promote_tag"
    order = 100

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def rerank(self, context: RerankContext, candidates: list[ScoredItem]) -> list[ScoredItem]:
        promoted = [c for c in candidates if self.tag in context.tags_of(c.item_id)]
        others = [c for c in candidates if self.tag not in context.tags_of(c.item_id)]
        return [ScoredItem(c.item_id, c.score, f"promoted: {self.tag}") for c in promoted] + others


class MinimumContributors:
    name = "min_contributors"
    order = 10

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def release(self, aggregate: Aggregate) -> Aggregate:
        contributors = np.diff(aggregate.contributions.tocsc().indptr)
        return aggregate.with_values(np.where(contributors >= self.minimum, aggregate.values, 0.0))


class EngagementScore:
    """Adds ``extra.engagement``: events per active day, a stand-in for a team's own model."""

    name = "engagement"
    order = 100

    def contribute(self, draft: ProfileDraft) -> None:
        facts = draft.facts
        if facts.active_days:
            draft.extra["engagement"] = round(facts.event_count / facts.active_days, 3)


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return ExampleConfig


@hookimpl
def infogap_register_models(
    register: Callable[[ModelTrainer], None], config: ExampleConfig, features: FeatureSettings
) -> None:
    register(FavouriteTagTrainer())


@hookimpl
def infogap_register_rerankers(register: Callable[[Reranker], None], config: ExampleConfig) -> None:
    if config.promote_tag:
        register(PromoteTag(config.promote_tag))


@hookimpl
def infogap_register_aggregate_guards(
    register: Callable[[AggregateGuard], None], config: ExampleConfig
) -> None:
    if config.min_contributors:
        register(MinimumContributors(config.min_contributors))


@hookimpl
def infogap_register_profile_contributors(
    register: Callable[[ProfileContributor], None], config: ExampleConfig
) -> None:
    register(EngagementScore())
