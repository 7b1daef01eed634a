"""Throwaway in-process servers for the evaluation: their settings derived from the source's,
the data set sent to them through the SDK, and the rankings they answer with."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from infogap.client import Client
from infogap.server.config import Settings
from infogap.server.evaluation.data import Dataset, Events
from infogap.server.evaluation.splits import EvaluationSplit
from infogap.server.transport.server import InfoGapServer
from infogap.v1.recommend_service_pb2 import RankItemsResponse, RecommendResponse

LOOPBACK = "127.0.0.1"
CLIENT_TIMEOUT_SECONDS = 120.0  # Train on a large history takes a while
# What shapes the models and how they serve is carried over from the source's settings. Every
# other setting (address, data directory, authentication, pseudonyms, privacy, and any section
# added later) starts from its default: a throwaway server needs no key or certificate, keeps
# user ids as they are, and releases nothing with differential privacy unless asked to.
CARRIED_SETTINGS = (
    "event_types",
    "limits",
    "plugins",
    "serving",
    "features",
    "lightfm",
    "training",
    "lifecycle",
    "popularity",
    "profiles",
    "plugin_config",
)

Rankings = dict[int, list[int]]  # user index -> item indices, best first
# The built-in plugins whose models personalise (all but popularity): off for a candidate
# that measures popularity alone, or one model alone.
PERSONAL_MODEL_PLUGINS = ("lightfm", "item_knn", "als", "ease")


def server_settings(
    base: Settings, data_dir: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Settings:
    """Settings of a throwaway server on ``data_dir`` and a free loopback port: ``base``'s
    ``CARRIED_SETTINGS``, defaults for the rest. ``overrides`` replace fields of sections
    (``{"lightfm": {"epochs": 5}}``) and are validated. Environment variables are not read
    again.
    """
    values = {
        name: getattr(base, name)
        if name in CARRIED_SETTINGS
        else spec.get_default(call_default_factory=True)
        for name, spec in type(base).model_fields.items()
    }
    for name, fields in (overrides or {}).items():
        section = values[name]
        if isinstance(section, dict):  # a plugin's own options, validated by it at start
            values[name] = {**section, **fields}
        else:
            values[name] = type(section).model_validate({**section.model_dump(), **fields})
    values.update(data_dir=data_dir, host=LOOPBACK, port=0)
    return base.model_copy(update=values)


@contextmanager
def throwaway_client(
    base: Settings, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Iterator[Client]:
    """A client of a fresh in-process server on a temporary data directory, removed after."""
    with tempfile.TemporaryDirectory(prefix="infogap-eval-") as data_dir:
        server = InfoGapServer(server_settings(base, Path(data_dir), overrides)).start()
        try:
            with Client(server.address, timeout=CLIENT_TIMEOUT_SECONDS) as client:
                yield client
        finally:
            server.stop(grace=0)


def send_dataset(
    client: Client, data: Dataset, events: Events, *, user_attributes: bool, item_features: bool
) -> None:
    """Every user and item (their attributes, tags and attributes only if asked for), then
    ``events``."""
    client.upsert_users(data.user_entities(with_attributes=user_attributes))
    client.upsert_items(data.item_entities(with_features=item_features))
    client.record(data.event_messages(events))


def serve_split(
    client: Client, data: Dataset, split: EvaluationSplit, count: int
) -> tuple[Rankings, Counter]:
    """Each evaluated user's ranking (Recommend, or RankItems over the split's candidate
    items), and how many users each strategy answered."""
    rankings: Rankings = {}
    strategies: Counter = Counter()
    candidate_ids = (
        [data.item_ids[i] for i in split.candidate_items]
        if split.candidate_items is not None
        else None
    )
    for user in split.users:
        user_id = data.user_ids[user]
        response: RecommendResponse | RankItemsResponse
        if candidate_ids is None:
            response = client.recommend(user_id, count=count)
        else:
            # RankItems keeps the caller's order among equal scores: shuffled (seeded per
            # user), items a model cannot tell apart rank at random rather than in catalogue
            # order, which follows popularity here.
            order = np.random.default_rng(user).permutation(len(candidate_ids))
            response = client.rank_items(user_id, [candidate_ids[i] for i in order])
        rankings[user] = [data.item_position[i.item_id] for i in response.items]
        strategies[response.strategy] += 1
    return rankings, strategies
