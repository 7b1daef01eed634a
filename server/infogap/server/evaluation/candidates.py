"""The candidates an evaluation compares: built-in model configurations, and one per model of
an installed third-party plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from infogap.server.config import Settings
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.plugins.host import BUILTIN_SOURCE
from infogap.server.evaluation.servers import PERSONAL_MODEL_PLUGINS, throwaway_client


@dataclass(frozen=True)
class Candidate:
    key: str
    label: str
    lightfm: dict[str, Any] = field(default_factory=dict)
    disabled_plugins: tuple[str, ...] = ()  # besides those the settings disable
    user_attributes: bool = True
    item_features: bool = True  # tags and attributes
    strategy_order: tuple[str, ...] = ()  # the serving fallback order; () the settings'


def alone(plugin: str, strategy: str, label: str) -> Candidate:
    """A candidate serving one built-in model, popularity behind it (the other personal
    models off, so that none answers in its place)."""
    return Candidate(
        strategy,
        label,
        disabled_plugins=tuple(p for p in PERSONAL_MODEL_PLUGINS if p != plugin),
        strategy_order=(strategy, "popularity"),
    )


# The LightFM candidates measure LightFM: the other personal models are not trained for them.
WITHOUT_OTHER_MODELS = tuple(p for p in PERSONAL_MODEL_PLUGINS if p != "lightfm")

CANDIDATES = (
    # What a server with these settings serves: every model trained, the plan choosing.
    Candidate("infogap", "InfoGap as configured (every model, the serving plan)"),
    Candidate(
        "popularity",
        "Popularity (personal model plugins disabled)",
        disabled_plugins=PERSONAL_MODEL_PLUGINS,
    ),
    Candidate("lightfm", "LightFM, current settings", disabled_plugins=WITHOUT_OTHER_MODELS),
    Candidate(
        "lightfm_bpr", "LightFM, loss bpr", {"loss": "bpr"}, disabled_plugins=WITHOUT_OTHER_MODELS
    ),
    Candidate(
        "lightfm_16",
        "LightFM, no_components 16",
        {"no_components": 16},
        disabled_plugins=WITHOUT_OTHER_MODELS,
    ),
    Candidate(
        "lightfm_no_user_features",
        "LightFM, no user features",
        user_attributes=False,
        disabled_plugins=WITHOUT_OTHER_MODELS,
    ),
    Candidate(
        "lightfm_no_item_features",
        "LightFM, no item features",
        item_features=False,
        disabled_plugins=WITHOUT_OTHER_MODELS,
    ),
    alone("ease", "ease", "EASE, then popularity"),
    alone("item_knn", "item_knn", "Item-kNN cosine, then popularity"),
    alone("item_knn", "item_knn_bm25", "Item-kNN BM25, then popularity"),
    alone("als", "als", "implicit ALS, then popularity"),
)


PLUGIN_CANDIDATE_PREFIX = "plugin:"


def plugin_candidates(settings: Settings) -> tuple[Candidate, ...]:
    """A candidate per model that an installed third-party plugin registers: that model first,
    popularity behind it. Found by asking a throwaway server configured by ``settings``
    (``ListPlugins``), so exactly the plugins production would load take part."""
    with throwaway_client(settings) as client:
        plugins = client.list_plugins().plugins
    found = []
    for plugin in plugins:
        if not plugin.enabled or plugin.source == BUILTIN_SOURCE:
            continue
        for provided in plugin.provides:
            kind, _, strategy = provided.partition(":")
            if kind == "model":
                found.append(
                    Candidate(
                        f"{PLUGIN_CANDIDATE_PREFIX}{strategy}",
                        f"Plugin {plugin.name}: {strategy}, then popularity",
                        disabled_plugins=PERSONAL_MODEL_PLUGINS,
                        strategy_order=(strategy, "popularity"),
                    )
                )
    return tuple(found)


def available_candidates(settings: Settings) -> tuple[Candidate, ...]:
    """The built-in candidates, then those of installed plugins."""
    return CANDIDATES + plugin_candidates(settings)


def candidates_named(
    keys: Sequence[str] | None, available: Sequence[Candidate] = CANDIDATES
) -> tuple[Candidate, ...]:
    """The candidates of ``keys``, in ``available``'s order; all of them for None.

    :raises InvalidArgument: for an unknown key or an empty list.
    """
    if keys is None:
        return tuple(available)
    known = [c.key for c in available]
    unknown = sorted(set(keys) - set(known))
    if unknown or not keys:
        raise InvalidArgument(
            "candidates",
            f"unknown {', '.join(unknown) or '(none given)'}; one of {', '.join(known)}",
        )
    return tuple(c for c in available if c.key in set(keys))
