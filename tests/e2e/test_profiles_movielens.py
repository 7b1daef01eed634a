"""Profiles on MovieLens 100K, checked against figures computed independently from the CSVs."""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infogap.client import Client
from infogap.server.transport.server import InfoGapServer

from ..conftest import make_settings

HALF_LIFE_DAYS = 30.0
RULE = 'attribute.occupation = "student" AND count.rating >= 50 AND interest.tag:Comedy >= 0.25'


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def movielens_server(movielens, tmp_path_factory):
    events = read(movielens / "events.csv")
    now = datetime.fromtimestamp(max(int(e["timestamp"]) for e in events), tz=UTC).replace(
        tzinfo=None
    )
    settings = make_settings(
        tmp_path_factory.mktemp("ml"),
        profiles={"now": now, "interest_half_life_days": HALF_LIFE_DAYS, "clusters": 6},
    )
    server = InfoGapServer(settings).start()
    with Client(server.address, timeout=60) as client:
        client.upsert_users(
            {
                "user_id": u["user_id"],
                "attributes": {"occupation": u["occupation"], "gender": u["gender"]},
            }
            for u in read(movielens / "users.csv")
        )
        client.upsert_items(
            {"item_id": i["item_id"], "tags": [g for g in i["genres"].split("|") if g]}
            for i in read(movielens / "items.csv")
        )
        client.stream_events(
            [
                {
                    "event_id": f"{e['user_id']}-{e['item_id']}",
                    "user_id": e["user_id"],
                    "item_id": e["item_id"],
                    "type": "rating",
                    "value": float(e["rating"]),
                    "time": datetime.fromtimestamp(int(e["timestamp"]), tz=UTC),
                }
                for e in events[start : start + 1000]
            ]
            for start in range(0, len(events), 1000)
        )
        client.train()
    yield server, now
    server.stop(grace=0)


@pytest.fixture(scope="module")
def expected(movielens, movielens_server):
    """Genre interest shares per user, computed from the CSVs with the documented formula."""
    _, now = movielens_server
    genres = {
        i["item_id"]: [g for g in i["genres"].split("|") if g]
        for i in read(movielens / "items.csv")
    }
    totals: defaultdict[str, float] = defaultdict(float)
    by_genre: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    ratings: Counter[str] = Counter()
    for e in read(movielens / "events.csv"):
        ratings[e["user_id"]] += 1
        stars = float(e["rating"])
        weight = stars - 3 if stars >= 4 else 0.0  # rating: weight 1, positive from 4 stars
        age_days = (
            now - datetime.fromtimestamp(int(e["timestamp"]), tz=UTC).replace(tzinfo=None)
        ).total_seconds() / 86400
        decayed = weight * 0.5 ** (age_days / HALF_LIFE_DAYS)
        totals[e["user_id"]] += decayed
        for genre in genres[e["item_id"]]:
            by_genre[e["user_id"]][genre] += decayed
    shares = {
        user: {genre: value / totals[user] for genre, value in user_genres.items()}
        for user, user_genres in by_genre.items()
        if totals[user] > 0
    }
    occupations = {u["user_id"]: u["occupation"] for u in read(movielens / "users.csv")}
    return shares, ratings, occupations


@pytest.mark.parametrize("user_id", ["1", "42", "405", "655", "916"])
def test_top_interests_match_the_genres_rated_highly(movielens_server, expected, user_id):
    server, _ = movielens_server
    shares, _, _ = expected
    with Client(server.address) as client:
        interests = client.profile(user_id).interests
    top = sorted(shares[user_id].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [i.feature for i in interests[:5]] == [f"tag:{genre}" for genre, _ in top]
    for interest, (_, share) in zip(interests, top):
        assert interest.score == pytest.approx(share, rel=1e-6)


def test_rule_segment_members_are_exactly_those_satisfying_the_rule(movielens_server, expected):
    server, _ = movielens_server
    shares, ratings, occupations = expected
    independent = sorted(
        user
        for user, occupation in occupations.items()
        if occupation == "student"
        and ratings[user] >= 50
        and shares.get(user, {}).get("Comedy", 0.0) >= 0.25
    )
    assert independent  # the rule selects someone, so the check means something
    with Client(server.address) as client:
        segment = client.define_segment("comedy-students", RULE)
        members = list(client.iter_segment_members("comedy-students", page_size=50))
        assert segment.size == len(independent)
        assert sorted(members) == independent
        member_profile = client.profile(independent[0])
        assert "comedy-students" in {s.name for s in member_profile.segments}


def test_clusters_have_sizes_and_descriptions(movielens_server):
    server, _ = movielens_server
    with Client(server.address) as client:
        deadline = time.monotonic() + 60
        while not (clusters := [s for s in client.list_segments() if s.kind == "cluster"]):
            assert time.monotonic() < deadline, "clusters were not computed"
            time.sleep(0.2)
    assert 2 <= len(clusters) <= 6
    assert sum(c.size for c in clusters) >= 900
    assert [c.size for c in clusters] == sorted((c.size for c in clusters), reverse=True)
    assert all("tag:" in c.description for c in clusters)
