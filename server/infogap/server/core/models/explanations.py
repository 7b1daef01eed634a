"""Reasons with evidence: what an ``ExplainingModel`` says is behind each returned item, turned
into data (``Evidence``) and a sentence ("because you rated Star Wars and Fargo", "popular with
customers aged 25-34"). Runs once per request on the final items only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from infogap.server.core.domain import Evidence, ScoredItem
from infogap.server.core.plugins.capabilities import Contribution, ExplainingModel, implements
from infogap.server.core.plugins.protocols import TrainedModel, UserQuery

# What the reason says the user did, by event type; other types read "interacted with".
VERBS = {
    "purchase": "bought",
    "rating": "rated",
    "click": "clicked",
    "view": "viewed",
    "add_to_cart": "added to your cart",
}
NAMED_ITEMS = 2  # items named in a sentence; the evidence may carry more
SEGMENT_PREFIX = "segment:"
DEFAULT_LEAD = "popular"  # how a sentence of features starts, unless the model names its own

EventTypesOf = Callable[[str, str, Sequence[str]], Mapping[str, str]]
"""(user id, catalog, item ids) -> item id -> what the user did with it (an event type)."""


def describe_feature(name: str, lead: str = DEFAULT_LEAD) -> str:
    """A feature as a sentence reads it after ``lead``: ``age=25-34`` -> "with customers aged
    25-34" (after "liked by customers": "aged 25-34"), ``segment:loyal`` -> "in segment loyal",
    ``occupation=student`` -> "in occupation=student"."""
    if name.startswith(SEGMENT_PREFIX):
        return f"in segment {name[len(SEGMENT_PREFIX) :]}"
    key, separator, value = name.partition("=")
    if separator and key == "age":
        return f"aged {value}" if lead.endswith("customers") else f"with customers aged {value}"
    return f"in {name}"


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def sentence(
    evidence: Sequence[Evidence], title_of: Callable[[str], str], lead: str = DEFAULT_LEAD
) -> str:
    """The reason for ``evidence`` (non-empty, strongest first); ``lead`` starts a sentence
    of features (the model's ``explanation_lead``)."""
    items = [e for e in evidence if e.item_id][:NAMED_ITEMS]
    if items:
        # Consecutive items with the same verb share it: "you bought A and B", "you bought A
        # and rated B".
        phrases: list[str] = []
        last_verb = None
        for e in items:
            verb = VERBS.get(e.event_type, "interacted with")
            title = title_of(e.item_id)
            phrases.append(title if verb == last_verb else f"{verb} {title}")
            last_verb = verb
        return "because you " + _join(phrases)
    features = [describe_feature(e.feature, lead) for e in evidence if e.feature][:NAMED_ITEMS]
    return f"{lead} {_join(features)}"


def explain_items(
    items: Sequence[ScoredItem],
    sources: Mapping[str, TrainedModel],
    query: UserQuery,
    catalog: str,
    positions: Mapping[str, int],
    item_ids: np.ndarray,
    title_of: Callable[[str], str],
    event_types_of: EventTypesOf,
    limit: int,
) -> list[ScoredItem]:
    """``items`` with the evidence of the model that scored each (``sources``: item id ->
    model), when that model is an ``ExplainingModel``; the others as they are."""
    by_model: dict[int, tuple[ExplainingModel, list[int]]] = {}
    for index, item in enumerate(items):
        source = sources.get(item.item_id)
        if source is None or item.item_id not in positions:
            continue
        if implements(source, ExplainingModel):
            by_model.setdefault(id(source), (source, []))[1].append(index)  # type: ignore[arg-type]
    if not by_model:
        return list(items)
    found: dict[int, list[Contribution]] = {}
    leads: dict[int, str] = {}
    for explaining, indices in by_model.values():
        wanted = np.array([positions[items[i].item_id] for i in indices], dtype=np.int64)
        lead = str(getattr(explaining, "explanation_lead", DEFAULT_LEAD))
        for index, contributions in zip(indices, explaining.explain(query, wanted, limit)):
            found[index] = contributions[:limit]
            leads[index] = lead
    own_items = {
        str(item_ids[c.item_position])
        for contributions in found.values()
        for c in contributions
        if 0 <= c.item_position < len(item_ids)
    }
    types = event_types_of(query.user_id, catalog, sorted(own_items)) if own_items else {}
    explained = list(items)
    count = len(item_ids)
    for index, contributions in found.items():
        # Built inline: this runs for every item of every request.
        evidence = tuple(
            Evidence(
                float(c.weight),
                item_id=(own := str(item_ids[c.item_position])),
                event_type=types.get(own, ""),
            )
            if 0 <= c.item_position < count
            else Evidence(float(c.weight), feature=c.feature)
            for c in contributions
            if 0 <= c.item_position < count or c.feature
        )
        if evidence:
            item = items[index]
            reason = sentence(evidence, title_of, leads[index])
            explained[index] = ScoredItem(item.item_id, item.score, reason, evidence)
    return explained
