"""InfoGap through its gRPC API, and LightFM fed as InfoGap feeds it (for the training time)."""

from __future__ import annotations

import inspect
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM

from infogap.client import Client
from infogap.plugins.lightfm_hybrid import LightFMConfig
from infogap.plugins.popularity import PopularityConfig
from infogap.server.assembly import build_server
from infogap.server.config import EventTypeSettings, Settings, load_settings

from .data import (
    Dataset,
    Events,
)
from .protocol import NUM_THREADS, K, Rankings

# --- InfoGap through its API ------------------------------------------------------------------


# Settings sections that shape what is recommended (the others are addresses, paths, limits).
REPORTED_SETTINGS = ("features", "serving", "lifecycle")
# The built-in plugins' own options, reported with their defaults as the plugins see them.
PLUGIN_CONFIGS = {"lightfm": LightFMConfig, "popularity": PopularityConfig}


def quality_settings(data_dir: Path = Path("data")) -> Settings:
    """The server's defaults (config file and INFOGAP_* variables apply) but LightFM's threads,
    fixed so that its fit is deterministic."""
    return load_settings(
        data_dir=data_dir, host="127.0.0.1", port=0, lightfm={"num_threads": NUM_THREADS}
    )


def settings_report(settings: Settings) -> dict[str, dict[str, Any]]:
    dumped = settings.model_dump(mode="json")
    report = {name: dumped[name] for name in REPORTED_SETTINGS if name in dumped}
    for name, config in PLUGIN_CONFIGS.items():
        report[name] = config.model_validate(getattr(settings, name)).model_dump(mode="json")
    report["event_types.rating"] = dumped["event_types"]["rating"]
    return report


@contextmanager
def infogap_client() -> Iterator[Client]:
    """A client of a fresh in-process server on a temporary data directory."""
    with (
        tempfile.TemporaryDirectory(prefix="infogap-quality-") as data_dir,
        serving_client(quality_settings(Path(data_dir))) as client,
    ):
        yield client


@contextmanager
def serving_client(settings: Settings) -> Iterator[Client]:
    """A client of an in-process server started with ``settings``, stopped afterwards."""
    server = build_server(settings).start()
    try:
        with Client(server.address, timeout=60) as client:
            yield client
    finally:
        server.stop(grace=0)


def send_movielens(
    client: Client,
    data: Dataset,
    ratings: Events,
    *,
    user_attributes: bool = True,
    item_genres: bool = True,
) -> None:
    """Every user and item (their features only if asked for) and the given ratings."""
    client.upsert_users(data.user_entities(with_attributes=user_attributes))
    client.upsert_items(data.item_entities(with_features=item_genres))
    client.record(data.event_messages(ratings))


def recommend_all(
    client: Client,
    data: Dataset,
    users: Sequence[int],
    excluded: Mapping[int, Collection[int]] | None = None,
) -> tuple[Rankings, dict[str, int]]:
    """Recommend for each user; also counts which strategy answered."""
    excluded = excluded or {}
    rankings, strategies = {}, Counter()
    for user in users:
        response = client.recommend(
            data.user_ids[user],
            count=K,
            exclude_item_ids=[data.item_ids[i] for i in excluded.get(user, ())],
        )
        rankings[user] = [data.item_position[item.item_id] for item in response.items]
        strategies[response.strategy] += 1
    return rankings, dict(strategies)


# --- LightFM as InfoGap feeds it, for the training-time comparison ----------------------------


@dataclass(frozen=True)
class HybridInputs:
    interactions: sp.coo_matrix  # 1 for every (user, item) pair with a positive signal
    sample_weight: sp.coo_matrix  # the summed signal of those pairs
    user_features: sp.csr_matrix
    item_features: sp.csr_matrix


def signal_weights(event_type: EventTypeSettings, values: np.ndarray) -> np.ndarray:
    """The training signal of events of one type, by the rule config.EventTypeSettings states."""
    if event_type.positive_from is None:
        return np.full(len(values), event_type.weight)
    above = values - event_type.positive_from + 1
    return np.where(values >= event_type.positive_from, event_type.weight * above, 0.0)


def identity_and_features(rows: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """An identity column per row, then one column per named feature; rows sum to one."""
    names = {name: i for i, name in enumerate(sorted({n for row in rows for n in row}))}
    row_of = [r for r, row in enumerate(rows) for _ in row]
    column_of = [len(rows) + names[n] for row in rows for n in row]
    identity = np.arange(len(rows))
    matrix = sp.csr_matrix(
        (
            np.ones(len(rows) + len(row_of), dtype=np.float32),
            (np.concatenate([identity, row_of]), np.concatenate([identity, column_of])),
        ),
        shape=(len(rows), len(rows) + len(names)),
    )
    return sp.csr_matrix(sp.diags(1.0 / matrix.sum(axis=1).A.ravel()) @ matrix, dtype=np.float32)


def hybrid_inputs(
    users: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    user_features: Sequence[Sequence[str]],
    item_features: Sequence[Sequence[str]],
) -> HybridInputs:
    """The matrices InfoGap's README and plugin describe: signals summed per (user, item), pairs
    with a positive sum kept, users without any dropped, every catalogue item kept."""
    summed = sp.csr_matrix(
        (weights.astype(np.float32), (users, items)),
        shape=(len(user_features), len(item_features)),
    )  # duplicates are summed
    summed.data[summed.data <= 0] = 0
    summed.eliminate_zeros()
    active_users = np.flatnonzero(np.diff(summed.indptr))
    summed = summed[active_users].tocoo()
    return HybridInputs(
        interactions=sp.coo_matrix(
            (np.ones_like(summed.data), (summed.row, summed.col)), shape=summed.shape
        ),
        sample_weight=summed,
        user_features=identity_and_features([user_features[u] for u in active_users]),
        item_features=identity_and_features(item_features),
    )


def fit_seconds(inputs: HybridInputs, settings: LightFMConfig) -> float:
    """Wall time of a raw LightFM fit with InfoGap's hyper-parameters."""
    parameters = settings.model_dump()
    accepted = inspect.signature(LightFM).parameters
    model = LightFM(**{name: value for name, value in parameters.items() if name in accepted})
    started = time.perf_counter()
    model.fit(
        inputs.interactions,
        user_features=inputs.user_features,
        item_features=inputs.item_features,
        sample_weight=inputs.sample_weight,
        epochs=settings.epochs,
        num_threads=settings.num_threads,
    )
    return time.perf_counter() - started


def timing_figures(train_responses: Sequence[Any], raw_fit_seconds: Sequence[float]) -> dict:
    infogap_total = statistics.median(r.total_seconds for r in train_responses)
    infogap_fit = statistics.median(
        m.training_seconds for r in train_responses for m in r.models if m.strategy == "lightfm"
    )
    raw = statistics.median(raw_fit_seconds)
    strategies = {m.strategy for r in train_responses for m in r.models}
    per_model = {
        strategy: statistics.median(
            m.training_seconds for r in train_responses for m in r.models if m.strategy == strategy
        )
        for strategy in sorted(strategies)
    }
    return {
        "infogap_train_total_seconds": infogap_total,
        "infogap_seconds_per_model": per_model,
        "infogap_lightfm_training_seconds": infogap_fit,
        "raw_lightfm_fit_seconds": raw,
        "ratio": infogap_total / raw,
        "runs": len(train_responses),
    }
