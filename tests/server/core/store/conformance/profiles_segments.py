"""Store conformance: profile facts, rule segments and clusters."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from infogap.server.core.domain import CatalogActivity, Interest, Item, User
from infogap.server.core.store import EventTypeActivity, Store, UserFacts
from tests.server.core.store.conformance.builders import DAY, T0, TYPE_WEIGHTS, events


class ProfilesAndSegments:
    # -- profile facts ------------------------------------------------------------------

    def test_event_type_activity_per_user_and_type(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "event_time": T0 - DAY},
                {"event_id": "e2", "user_id": "u1", "event_time": T0 - 10 * DAY, "value": 2.0},
                {
                    "event_id": "e3",
                    "user_id": "u1",
                    "type": "purchase",
                    "value": 30.0,
                    "event_time": T0 - 2 * DAY,
                },
                {"event_id": "e4", "user_id": "u1", "event_time": T0 + DAY},  # after as_of
                {"event_id": "e5", "user_id": "u2", "event_time": T0 - 20 * DAY},
            )
        )
        found = store.event_type_activity(
            T0, None, window_starts=[T0 - 7 * DAY, T0 - 30 * DAY], frequency_start=T0 - 3 * DAY
        )
        assert found == [
            EventTypeActivity("u1", "click", 2, 3.0, T0 - 10 * DAY, T0 - DAY, 1, (1, 2)),
            EventTypeActivity("u1", "purchase", 1, 30.0, T0 - 2 * DAY, T0 - 2 * DAY, 1, (1, 1)),
            EventTypeActivity("u2", "click", 1, 1.0, T0 - 20 * DAY, T0 - 20 * DAY, 0, (0, 1)),
        ]
        only_u2 = store.event_type_activity(
            T0, ["u2", "nobody"], window_starts=[], frequency_start=T0
        )
        assert only_u2 == [
            EventTypeActivity("u2", "click", 1, 1.0, T0 - 20 * DAY, T0 - 20 * DAY, 0, ())
        ]

    def test_catalog_activity_and_active_days(self, store: Store) -> None:
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "item_id": "i1"},
                {"event_id": "e2", "user_id": "u1", "item_id": "i1", "event_time": T0 - DAY},
                {"event_id": "e3", "user_id": "u1", "item_id": "i2", "event_time": T0 - DAY},
                {"event_id": "e4", "user_id": "u1", "catalog": "d", "event_time": T0 - 3 * DAY},
                {"event_id": "e5", "user_id": "u1", "catalog": "e", "event_time": T0 + DAY},
                {"event_id": "e6", "user_id": "u2", "catalog": "d"},
            )
        )
        assert store.catalog_activity(T0, None) == {
            "u1": (CatalogActivity("c", 3, 2), CatalogActivity("d", 1, 1)),
            "u2": (CatalogActivity("d", 1, 1),),
        }
        assert store.catalog_activity(T0, ["u2"]) == {"u2": (CatalogActivity("d", 1, 1),)}
        assert store.active_days(T0, None) == {"u1": 3, "u2": 1}
        assert store.active_days(T0 - 2 * DAY, ["u1", "u2"]) == {"u1": 1}

    def test_interest_scores_share_of_decayed_weight(self, store: Store) -> None:
        store.upsert_items(
            [
                Item("i1", "c", {"genre": "x"}, ("A", "B")),
                Item("i2", "c", {"genre": "y", "year": "1990"}, ("A",)),
            ],
            T0,
        )
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1", "item_id": "i1"},
                {"event_id": "e2", "user_id": "u1", "item_id": "i2", "event_time": T0 - DAY},
                {
                    "event_id": "e3",
                    "user_id": "u2",
                    "item_id": "i1",
                    "type": "rating",
                    "value": 2.0,
                },  # no positive weight: left out
            )
        )
        found = store.interest_scores(
            T0, None, type_weights=TYPE_WEIGHTS, half_life_days=1.0, attributes=None
        )
        assert list(found) == ["u1"]
        assert [(i.feature, i.evidence_count) for i in found["u1"]] == [
            ("tag:A", 2),
            ("genre:x", 1),
            ("tag:B", 1),
            ("genre:y", 1),
            ("year:1990", 1),
        ]
        scores = [i.score for i in found["u1"]]
        assert scores == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3, 1 / 3])
        genre_only = store.interest_scores(
            T0, ["u1"], type_weights=TYPE_WEIGHTS, half_life_days=1.0, attributes=["genre"]
        )
        assert [i.feature for i in genre_only["u1"]] == ["tag:A", "genre:x", "tag:B", "genre:y"]
        assert isinstance(genre_only["u1"][0], Interest)

    def test_one_user_facts_equal_that_user_among_all(self, store: Store) -> None:
        # GetProfile asks for one user, segments and clusters for all: the two must agree.
        rng = random.Random(3)
        store.upsert_users([User(f"u{n}", {"plan": f"p{n % 3}"}) for n in range(6)], T0)
        store.upsert_items(
            [
                Item(f"i{n}", "c", {"genre": f"g{n % 4}"}, tuple(f"T{t}" for t in range(n % 3)))
                for n in range(12)
            ],
            T0,
        )
        store.insert_events(
            events(
                *(
                    {
                        "event_id": f"e{n}",
                        "user_id": f"u{rng.randrange(6)}",
                        "item_id": f"i{rng.randrange(14)}",  # i12, i13: not in the catalog
                        "catalog": rng.choice(["c", "c", "d"]),
                        "type": rng.choice(["click", "purchase", "rating", "view"]),
                        "value": float(rng.randint(1, 5)),
                        "event_time": T0 - timedelta(hours=rng.randrange(24 * 60)) + DAY,
                    }
                    for n in range(400)
                )
            )
        )
        store.replace_clusters([("cluster-0", "only", 3)], {"u1": "cluster-0"}, T0)

        def activity(users: list[str] | None) -> list[EventTypeActivity]:
            return store.event_type_activity(
                T0, users, window_starts=[T0 - 7 * DAY], frequency_start=T0 - 30 * DAY
            )

        def interests(users: list[str] | None) -> dict[str, tuple[Interest, ...]]:
            return store.interest_scores(
                T0, users, type_weights=TYPE_WEIGHTS, half_life_days=3.0, attributes=None
            )

        all_activity = activity(None)
        all_catalogs = store.catalog_activity(T0, None)
        all_days = store.active_days(T0, None)
        all_interests = interests(None)
        for user in ["u0", "u1", "u5", "nobody"]:
            one = [user]
            assert activity(one) == [row for row in all_activity if row.user_id == user]
            assert store.catalog_activity(T0, one) == {
                u: found for u, found in all_catalogs.items() if u == user
            }
            assert store.active_days(T0, one) == {u: d for u, d in all_days.items() if u == user}
            found = interests(one).get(user, ())
            expected = all_interests.get(user, ())
            assert [(i.feature, i.evidence_count) for i in found] == [
                (i.feature, i.evidence_count) for i in expected
            ]
            assert [i.score for i in found] == pytest.approx([i.score for i in expected])
            assert store.user_records(one) == {
                u: r for u, r in store.user_records(None).items() if u == user
            }
            assert store.user_clusters(one) == {
                u: c for u, c in store.user_clusters(None).items() if u == user
            }

    def test_user_facts_equal_the_aggregates_of_those_users(self, store: Store) -> None:
        # GetProfile reads a few users' facts in one call; segments and clusters aggregate
        # everyone. Each part must be what the aggregate method gives for those users.
        rng = random.Random(5)
        store.upsert_users([User(f"u{n}", {"plan": f"p{n % 3}"}) for n in range(8)], T0)
        store.upsert_items(
            [
                # i0..i3 share their features two by two: scores tie, the feature name decides.
                Item(f"i{n}", "c", {"genre": f"g{n // 2}"}, (f"T{n // 2}",) + ("A",) * (n % 2))
                for n in range(10)
            ]
            + [Item("i0", "d", {"genre": "other", "year": "1990"}, ())],
            T0,
        )
        rows = [
            {
                "event_id": f"e{n}",
                "user_id": f"u{rng.randrange(6)}",
                "item_id": f"i{rng.randrange(12)}",  # i10, i11: not in the catalog
                "catalog": rng.choice(["c", "c", "d"]),
                "type": rng.choice(["click", "purchase", "rating", "rating", "view"]),
                "value": float(rng.randint(1, 5)),
                # Microseconds apart from T0's: ages count whole seconds as SQL's date_diff.
                "event_time": T0
                - timedelta(minutes=rng.randrange(60 * 24 * 40), microseconds=rng.randrange(10**6))
                + DAY,
            }
            for n in range(500)
        ]
        rows += [
            {"event_id": "late", "user_id": "u7", "event_time": T0 + DAY},  # only after as_of
            {"event_id": "seen", "user_id": "u8", "type": "view"},  # no weighted event
            {"event_id": "low", "user_id": "u9", "type": "rating", "value": 2.0},  # weight 0
            {"event_id": "tie1", "user_id": "u9", "item_id": "i2", "event_time": T0 - DAY},
            {"event_id": "tie2", "user_id": "u9", "item_id": "i3", "event_time": T0 - DAY},
        ]
        store.insert_events(events(*rows))
        store.replace_clusters(
            [("cluster-0", "one", 2)], {"u1": "cluster-0", "u9": "cluster-0"}, T0
        )
        # Everyone with events: more than ROW_BY_ROW_BELOW of them, aggregated with numpy.
        everyone_with_events = [f"u{n}" for n in range(10)]
        groups = [["u0"], ["u1", "u5", "nobody"], ["u6", "u7", "u8"], ["u9"], ["nobody"]]
        groups += [everyone_with_events, []]
        arguments = [
            ([T0 - 7 * DAY, T0 - 30 * DAY], T0 - 30 * DAY, 3.0, None),
            ([T0 - DAY], T0 - 2 * DAY, 0.5, ["genre"]),
            ([], T0, 30.0, []),
        ]
        for window_starts, frequency_start, half_life_days, attributes in arguments:
            for as_of in [T0, T0 - 3 * DAY]:
                everyone = _aggregates(
                    store, as_of, None, window_starts, frequency_start, half_life_days, attributes
                )
                for users in groups:
                    found = store.user_facts(
                        as_of,
                        users,
                        window_starts=window_starts,
                        frequency_start=frequency_start,
                        type_weights=TYPE_WEIGHTS,
                        half_life_days=half_life_days,
                        attributes=attributes,
                    )
                    restricted = _aggregates(
                        store,
                        as_of,
                        users,
                        window_starts,
                        frequency_start,
                        half_life_days,
                        attributes,
                    )
                    for expected in (_only(everyone, set(users)), restricted):
                        _assert_same_facts(found, expected)
        assert set(found.records) == set()  # the last group asked for nobody
        tie = store.user_facts(
            T0,
            ["u9"],
            window_starts=[],
            frequency_start=T0,
            type_weights=TYPE_WEIGHTS,
            half_life_days=1.0,
            attributes=None,
        )
        # The rating below positive_from weighs 0: its item's features have no evidence.
        assert tie.interests == {
            "u9": (
                Interest("genre:g1", 1.0, 2),
                Interest("tag:T1", 1.0, 2),
                Interest("tag:A", 0.5, 1),
            )
        }

    def test_user_facts_see_items_upserted_since(self, store: Store) -> None:
        store.upsert_items([Item("i1", "c", {"genre": "x"}, ("A",))], T0)
        store.insert_events(
            events(
                {"event_id": "e1", "user_id": "u1"},
                {"event_id": "e2", "user_id": "u1", "item_id": "i2"},
            )
        )

        def features() -> list[str]:
            found = store.user_facts(
                T0,
                ["u1"],
                window_starts=[],
                frequency_start=T0,
                type_weights=TYPE_WEIGHTS,
                half_life_days=1.0,
                attributes=None,
            )
            return [i.feature for i in found.interests.get("u1", ())]

        assert features() == ["genre:x", "tag:A"]
        store.upsert_items([Item("i1", "c", {}, ("B",)), Item("i2", "c", {}, ("C",))], T0)
        assert features() == ["tag:B", "tag:C"]

    # -- segments and clusters ----------------------------------------------------------

    def test_rule_segments_define_replace_delete(self, store: Store) -> None:
        store.define_segment("b", "event_count >= 1", "active", T0)
        store.define_segment("a", "old rule", "old", T0)
        store.define_segment("a", "monetary > 10", "spenders", T0 + DAY)
        assert store.segment_rules() == [
            ("a", "monetary > 10", "spenders"),
            ("b", "event_count >= 1", "active"),
        ]
        assert store.delete_segment("a") is True
        assert store.delete_segment("a") is False
        assert store.segment_rules() == [("b", "event_count >= 1", "active")]

    def test_user_facts_see_every_cluster_write(self, store: Store) -> None:
        """A profile computed after replace_clusters or an erasure sees it (the DuckDB store
        keeps the memberships in memory)."""
        store.upsert_users([User("u1"), User("u2")], T0)

        def clusters() -> dict[str, str]:
            return store.user_facts(
                T0,
                ["u1", "u2"],
                window_starts=[],
                frequency_start=T0,
                type_weights=TYPE_WEIGHTS,
                half_life_days=1.0,
                attributes=None,
            ).clusters

        assert clusters() == {}
        store.replace_clusters([("c0", "both", 2)], {"u1": "c0", "u2": "c0"}, T0)
        assert clusters() == {"u1": "c0", "u2": "c0"}
        store.replace_clusters([("c1", "one", 1)], {"u2": "c1"}, T0)
        assert clusters() == {"u2": "c1"}
        store.delete_user("u2")
        assert clusters() == {}

    def test_replace_clusters_keeps_only_stored_users(self, store: Store) -> None:
        store.upsert_users([User("u1"), User("u2")], T0)
        store.insert_events(events({"event_id": "e1", "user_id": "u3"}))
        store.replace_clusters(
            [("cluster-0", "first", 99), ("cluster-1", "second", 99)],
            {"u1": "cluster-0", "u2": "cluster-1", "u3": "cluster-0", "erased": "cluster-1"},
            T0,
        )
        assert store.clusters() == [("cluster-0", "first", 2), ("cluster-1", "second", 1)]
        assert store.cluster_members("cluster-0") == ["u1", "u3"]
        assert store.cluster_members("unknown") == []
        assert store.user_clusters(None) == {
            "u1": "cluster-0",
            "u2": "cluster-1",
            "u3": "cluster-0",
        }
        assert store.user_clusters(["u2", "erased"]) == {"u2": "cluster-1"}
        store.replace_clusters([("cluster-9", "only", 1)], {"u2": "cluster-9"}, T0 + DAY)
        assert store.clusters() == [("cluster-9", "only", 1)]
        assert store.user_clusters(None) == {"u2": "cluster-9"}


def _aggregates(
    store: Store,
    as_of: datetime,
    users: list[str] | None,
    window_starts: list[datetime],
    frequency_start: datetime,
    half_life_days: float,
    attributes: list[str] | None,
) -> UserFacts:
    """What the aggregate methods give, as a ``UserFacts``."""
    return UserFacts(
        records=store.user_records(users),
        activity=store.event_type_activity(
            as_of, users, window_starts=window_starts, frequency_start=frequency_start
        ),
        catalog_activity=store.catalog_activity(as_of, users),
        active_days=store.active_days(as_of, users),
        interests=store.interest_scores(
            as_of,
            users,
            type_weights=TYPE_WEIGHTS,
            half_life_days=half_life_days,
            attributes=attributes,
        ),
        clusters=store.user_clusters(users),
    )


def _only(facts: UserFacts, users: set[str]) -> UserFacts:
    return UserFacts(
        records={u: r for u, r in facts.records.items() if u in users},
        activity=[row for row in facts.activity if row.user_id in users],
        catalog_activity={u: c for u, c in facts.catalog_activity.items() if u in users},
        active_days={u: d for u, d in facts.active_days.items() if u in users},
        interests={u: i for u, i in facts.interests.items() if u in users},
        clusters={u: c for u, c in facts.clusters.items() if u in users},
    )


def _assert_same_facts(found: UserFacts, expected: UserFacts) -> None:
    """Equal, scores within 1e-12 (sums may differ in their last bits), in the same order."""
    assert found.records == expected.records
    assert found.activity == expected.activity
    assert found.catalog_activity == expected.catalog_activity
    assert found.active_days == expected.active_days
    assert found.clusters == expected.clusters
    assert sorted(found.interests) == sorted(expected.interests)
    for user, interests in expected.interests.items():
        got = found.interests[user]
        assert [(i.feature, i.evidence_count) for i in got] == [
            (i.feature, i.evidence_count) for i in interests
        ]
        assert [i.score for i in got] == pytest.approx([i.score for i in interests], rel=1e-12)
