"""What differential privacy costs in recommendation quality: NDCG@k and recall@k of the
popularity list released with differential privacy (the ``differential_privacy`` plugin) at
several epsilons, next to the non-private list and the contribution bounding alone, each
measured through a real in-process server (see ``PROTOCOL``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from infogap.server.config import Settings
from infogap.server.core.plugins.host import ENTRY_POINT_GROUP
from infogap.server.evaluation.data import Dataset
from infogap.server.evaluation.metrics import ndcg_at_k, recall_at_k
from infogap.server.evaluation.servers import (
    PERSONAL_MODEL_PLUGINS,
    send_dataset,
    serve_split,
    throwaway_client,
)
from infogap.server.evaluation.splits import EvaluationSplit

PLUGIN = "differential_privacy"
EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
DRAWS = 3
NOISELESS_EPSILON = 1e6  # noise scale c / 1e6: no noise for all purposes, the bounding stays
UNREACHABLE_BUDGET = 1e12
FIGURES = {"ndcg": ndcg_at_k, "recall": recall_at_k}
PROTOCOL = (
    "The popularity list of an in-process server with popularity as its only strategy (LightFM "
    "and third-party plugins off), users sent without attributes so that everyone is served "
    "the one global list, no data-driven segments and no validation hold-out (the list is "
    "fitted on every training event). For each epsilon per release the server trains {draws} "
    "times, each Train drawing fresh noise, and every evaluated user is asked for "
    "recommendations after each; figures are the mean and standard deviation over the draws. "
    "The budget per window is set out of reach: this measures the noise, not the ledger."
)


@dataclass(frozen=True)
class PrivacyCurve:
    """Which releases to measure: the epsilons per release, and the noise draws of each."""

    epsilons: tuple[float, ...] = EPSILONS
    draws: int = DRAWS


def privacy_plugin_available(settings: Settings) -> bool:
    """Whether the differential_privacy plugin is installed and ``settings`` do not disable it."""
    installed = any(e.name == PLUGIN for e in entry_points(group=ENTRY_POINT_GROUP))
    return installed and PLUGIN not in settings.plugins.disabled


def _summary(values: Sequence[float]) -> dict[str, Any]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": spread, "values": list(values)}


def popularity_draws(
    data: Dataset,
    split: EvaluationSplit,
    settings: Settings,
    privacy: dict[str, Any],
    *,
    k: int,
    draws: int,
) -> dict[str, Any]:
    """NDCG@k and recall@k (means over the split's users) of the served popularity list after
    each of ``draws`` trainings, summarised."""
    if split.candidate_items is not None:
        raise ValueError("the popularity list is measured with Recommend, not on cold items")
    overrides: dict[str, dict[str, Any]] = {
        "plugins": {
            "autoload": False,
            "disabled": [*settings.plugins.disabled, *PERSONAL_MODEL_PLUGINS],
        },
        "profiles": {"clusters": 0},
        "lifecycle": {"validation_fraction": 0.0},
        "privacy": privacy,
    }
    figures: dict[str, list[float]] = {name: [] for name in FIGURES}
    with throwaway_client(settings, overrides) as client:
        send_dataset(client, data, split.train, user_attributes=False, item_features=False)
        for _ in range(draws):
            client.train()
            rankings, strategies = serve_split(client, data, split, k)
            if set(strategies) != {"popularity"}:
                raise RuntimeError(f"expected the popularity list only, got {dict(strategies)}")
            for name, metric in FIGURES.items():
                figures[name].append(
                    statistics.fmean(metric(rankings[u], split.relevant[u], k) for u in split.users)
                )
    return {"draws": draws, **{name: _summary(values) for name, values in figures.items()}}


def measure_privacy(
    data: Dataset,
    split: EvaluationSplit,
    settings: Settings,
    *,
    k: int,
    curve: PrivacyCurve,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """The epsilon-vs-quality curve on ``split`` (JSON-ready). ``settings`` are the source's:
    its event types and contribution bound apply."""
    started = time.perf_counter()
    bound = settings.privacy.max_contributions_per_user
    private = {
        "enabled": True,
        "epsilon_per_window": UNREACHABLE_BUDGET,
        "max_contributions_per_user": bound,
    }

    def measure(privacy: dict[str, Any], draws: int) -> dict[str, Any]:
        return popularity_draws(data, split, settings, privacy, k=k, draws=draws)

    progress("popularity without privacy")
    no_privacy = measure({"enabled": False}, 1)  # deterministic: one draw says it all
    # Bounding breaks ties at random, so it gets draws too.
    progress("contribution bounding only")
    bounding_only = measure({**private, "epsilon_per_release": NOISELESS_EPSILON}, curve.draws)
    releases = []
    for epsilon in curve.epsilons:
        progress(f"epsilon {epsilon:g}, {curve.draws} draws")
        figures = measure({**private, "epsilon_per_release": epsilon}, curve.draws)
        releases.append({"epsilon": epsilon, **figures})
    return {
        "protocol": PROTOCOL.format(draws=curve.draws),
        "split": split.kind,
        "k": k,
        "users": len(split.users),
        "max_contributions_per_user": bound,
        "mechanism": f"discrete Laplace (OpenDP), scale {bound} / epsilon, on counts of at most "
        f"{bound} items per user",
        "no_privacy": no_privacy,
        "bounding_only": bounding_only,
        "releases": releases,
        "seconds": time.perf_counter() - started,
    }
