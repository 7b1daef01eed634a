"""Reasons with evidence: the sentence and the data built from a model's contributions."""

from __future__ import annotations

import numpy as np
import pytest

from infogap.server.core.domain import Evidence, ScoredItem
from infogap.server.core.models.explanations import describe_feature, explain_items, sentence
from infogap.server.core.plugins.capabilities import Contribution
from infogap.server.core.plugins.protocols import UserQuery

ITEM_IDS = np.array(["sw", "fargo", "heat", "new"], dtype=object)
POSITIONS = {item_id: i for i, item_id in enumerate(ITEM_IDS.tolist())}
TITLES = {"sw": "Star Wars", "fargo": "Fargo"}


def title_of(item_id: str) -> str:
    return TITLES.get(item_id, item_id)


@pytest.mark.parametrize(
    ("feature", "lead", "text"),
    [
        ("age=25-34", "popular", "with customers aged 25-34"),
        ("age=25-34", "liked by customers", "aged 25-34"),
        ("occupation=student", "popular", "in occupation=student"),
        ("segment:loyal", "popular", "in segment loyal"),
    ],
)
def test_features_read_as_phrases(feature, lead, text):
    assert describe_feature(feature, lead) == text


def test_sentences_name_items_by_title_and_verb():
    bought = [Evidence(2.0, item_id="sw", event_type="purchase")]
    assert sentence(bought, title_of) == "because you bought Star Wars"
    two = [*bought, Evidence(1.0, item_id="fargo", event_type="purchase")]
    assert sentence(two, title_of) == "because you bought Star Wars and Fargo"
    mixed = [*bought, Evidence(1.0, item_id="heat", event_type="rating")]
    assert sentence(mixed, title_of) == "because you bought Star Wars and rated heat"
    odd = [Evidence(1.0, item_id="heat", event_type="teleport")]
    assert sentence(odd, title_of) == "because you interacted with heat"
    features = [Evidence(0.9, feature="age=25-34"), Evidence(0.5, feature="occupation=student")]
    assert sentence(features, title_of) == (
        "popular with customers aged 25-34 and in occupation=student"
    )
    assert sentence(features[:1], title_of, "liked by customers") == (
        "liked by customers aged 25-34"
    )


class Explaining:
    """Names the user's first history item for every item, and nothing for "heat"."""

    strategy = "explaining"
    explanation_lead = "liked by customers"

    def __init__(self) -> None:
        self.asked: list[list[int]] = []

    def explain(self, user, item_positions, limit):
        self.asked.append(item_positions.tolist())
        history = user.history_item_positions
        return [
            [] if p == POSITIONS["heat"] else [Contribution(0.5, item_position=int(history[0]))]
            for p in item_positions
        ]


class Silent:
    strategy = "silent"


def test_explain_items_asks_each_model_for_its_own_items_only():
    model, other = Explaining(), Silent()
    items = [ScoredItem(i, 1.0, "generic") for i in ("fargo", "heat", "new", "added")]
    sources = {"fargo": model, "heat": model, "new": other}  # "added" came from a reranker
    query = UserQuery("u", lambda _: {}, load_history=lambda _: np.array([0], dtype=np.int64))
    looked_up = []

    def event_types_of(user_id, catalog, item_ids):
        looked_up.append((user_id, catalog, list(item_ids)))
        return {"sw": "rating"}

    explained = explain_items(
        items, sources, query, "films", POSITIONS, ITEM_IDS, title_of, event_types_of, 3
    )
    assert model.asked == [[1, 2]]
    assert looked_up == [("u", "films", ["sw"])]
    assert explained[0] == ScoredItem(
        "fargo",
        1.0,
        "because you rated Star Wars",
        (Evidence(0.5, item_id="sw", event_type="rating"),),
    )
    assert explained[1:] == items[1:]  # no evidence, another model, no model


def test_feature_evidence_uses_the_models_lead():
    class ByFeature:
        strategy = "f"
        explanation_lead = "liked by customers"

        def explain(self, user, item_positions, limit):
            return [[Contribution(0.7, feature="age=25-34")] for _ in item_positions]

    model = ByFeature()
    items = [ScoredItem("heat", 1.0, "generic")]
    explained = explain_items(
        items,
        {"heat": model},
        UserQuery("u", lambda _: {}),
        "c",
        POSITIONS,
        ITEM_IDS,
        title_of,
        lambda *_: {},
        3,
    )
    assert explained[0].reason == "liked by customers aged 25-34"
    assert explained[0].evidence == (Evidence(0.7, feature="age=25-34"),)
