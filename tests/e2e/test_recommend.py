"""RecommendService through the SDK, on the two-tastes data set."""

from __future__ import annotations

import pytest

from infogap.client import FailedPreconditionError, InvalidArgumentError, NotFoundError

from ..synthetic import TwoTastes


def colours(response) -> set[str]:
    return {item.item_id.split("-")[0] for item in response.items}


def test_recommend_personalizes_by_taste(trained_client):
    red = trained_client.recommend("red-user-0", count=5)
    blue = trained_client.recommend("blue-user-0", count=5)
    assert red.strategy == blue.strategy == "lightfm"
    assert colours(red) == {"red"} and colours(blue) == {"blue"}
    assert red.recommendation_id and red.recommendation_id != blue.recommendation_id
    assert red.model_version and all(item.reason for item in red.items)
    scores = [item.score for item in red.items]
    assert scores == sorted(scores, reverse=True)


def test_seen_items_are_excluded_unless_asked(trained_client, tastes: TwoTastes):
    seen = {e["item_id"] for e in tastes.events if e["user_id"] == "red-user-0"}
    response = trained_client.recommend("red-user-0", count=40)
    assert not seen & {item.item_id for item in response.items}
    with_seen = trained_client.recommend("red-user-0", count=40, include_seen=True)
    assert seen <= {item.item_id for item in with_seen.items}


def test_a_new_event_is_excluded_at_once(trained_client):
    top = trained_client.recommend("red-user-1", count=3).items[0].item_id
    trained_client.record([{"user_id": "red-user-1", "item_id": top, "type": "click"}])
    assert top not in {
        item.item_id for item in trained_client.recommend("red-user-1", count=3).items
    }


def test_impressions_do_not_count_as_seen(trained_client):
    top = trained_client.recommend("red-user-2", count=1).items[0].item_id
    trained_client.record([{"user_id": "red-user-2", "item_id": top, "type": "impression"}])
    assert trained_client.recommend("red-user-2", count=1).items[0].item_id == top


def test_filters_by_tags_and_ids(trained_client):
    blue_for_red = trained_client.recommend("red-user-0", count=5, include_tags=["blue"])
    assert colours(blue_for_red) == {"blue"}
    no_red = trained_client.recommend("red-user-0", count=5, exclude_tags=["red"])
    assert colours(no_red) == {"blue"}
    first = trained_client.recommend("red-user-0", count=2).items
    excluded = trained_client.recommend("red-user-0", count=2, exclude_item_ids=[first[0].item_id])
    assert first[0].item_id not in {i.item_id for i in excluded.items}
    assert excluded.items[0].item_id == first[1].item_id


def test_inactive_items_are_never_recommended(trained_client):
    top = trained_client.recommend("blue-user-0", count=1).items[0].item_id
    trained_client.upsert_items([{"item_id": top, "tags": ["blue"], "active": False}])
    assert top not in {i.item_id for i in trained_client.recommend("blue-user-0", count=40).items}


def test_unknown_user_without_attributes_gets_popularity(trained_client):
    response = trained_client.recommend("stranger", count=5)
    assert response.strategy == "popularity"
    assert all("popular" in item.reason for item in response.items)


def test_new_user_with_attributes_gets_personal_results(trained_client):
    trained_client.upsert_users(
        [
            {"user_id": "new-red", "attributes": {"segment": "red"}},
            {"user_id": "new-blue", "attributes": {"segment": "blue"}},
        ]
    )
    red = trained_client.recommend("new-red", count=10)
    blue = trained_client.recommend("new-blue", count=10)
    # No interactions yet: the personalized half is blended with the popular half.
    assert red.strategy == blue.strategy == "lightfm+popularity"
    personal_red = [i for i in red.items if i.reason.startswith("liked by customers")]
    personal_blue = [i for i in blue.items if i.reason.startswith("liked by customers")]
    assert len(personal_red) == len(personal_blue) == 5
    assert {i.item_id.split("-")[0] for i in personal_red} == {"red"}
    assert {i.item_id.split("-")[0] for i in personal_blue} == {"blue"}
    # A cold user's reasons name their feature, carried as evidence too.
    assert {i.reason for i in personal_red} == {"liked by customers in segment=red"}
    assert all([e.feature for e in i.evidence] == ["segment=red"] for i in personal_red)
    assert all(e.weight > 0 and not e.item_id for i in personal_red for e in i.evidence)


def test_blending_fades_out_as_interactions_grow(trained_client):
    trained_client.upsert_users([{"user_id": "newcomer", "attributes": {"segment": "blue"}}])
    reasons = lambda response: [i.reason for i in response.items]  # noqa: E731
    first = trained_client.recommend("newcomer", count=10)
    assert sum(r.startswith("liked by customers") for r in reasons(first)) == 5
    assert sum("popular" in r for r in reasons(first)) == 5
    clicked = [f"blue-item-{n}" for n in range(5)]
    trained_client.record([{"user_id": "newcomer", "item_id": i, "type": "click"} for i in clicked])
    after = trained_client.recommend("newcomer", count=10)
    assert after.strategy == "lightfm" and not any("popular" in r for r in reasons(after))


def test_a_new_user_is_personalized_from_fresh_clicks_before_any_retrain(trained_client):
    clicked = [f"red-item-{n}" for n in range(6)]
    trained_client.record([{"user_id": "walk-in", "item_id": i, "type": "click"} for i in clicked])
    response = trained_client.recommend("walk-in", count=5)
    assert response.strategy == "lightfm"
    # Each reason names clicked items, strongest first, and carries them as evidence.
    for item in response.items:
        assert item.reason.startswith("because you clicked red-item-")
        assert 1 <= len(item.evidence) <= 3
        assert {e.item_id for e in item.evidence} <= set(clicked)
        assert {e.event_type for e in item.evidence} == {"click"}
        weights = [e.weight for e in item.evidence]
        assert weights == sorted(weights, reverse=True) and weights[-1] > 0
        named = item.reason.removeprefix("because you clicked ").split(" and ")
        assert named == [e.item_id for e in item.evidence[:2]]
    assert colours(response) == {"red"} and not set(clicked) & {i.item_id for i in response.items}


def test_similar_items_stay_within_the_colour(trained_client):
    response = trained_client.similar_items("red-item-0", count=5)
    assert colours(response) == {"red"}
    assert "red-item-0" not in {i.item_id for i in response.items}
    with pytest.raises(NotFoundError):
        trained_client.similar_items("no-such-item")


def test_rank_items_orders_candidates_for_the_user(trained_client):
    candidates = ["blue-item-1", "red-item-1", "mystery", "blue-item-2", "red-item-2"]
    response = trained_client.rank_items("red-user-3", candidates)
    order = [item.item_id for item in response.items]
    assert sorted(order) == sorted(candidates)
    assert {o.split("-")[0] for o in order[:2]} == {"red"}
    assert order[-1] == "mystery" and response.items[-1].reason == "unknown item"


def test_bad_requests_get_invalid_argument(trained_client):
    with pytest.raises(InvalidArgumentError, match="count"):
        trained_client.recommend("red-user-0", count=5000)
    with pytest.raises(InvalidArgumentError, match="user_id"):
        trained_client.recommend("")
    with pytest.raises(InvalidArgumentError, match=r"item_ids\[1\]"):
        trained_client.rank_items("red-user-0", ["a", "a"])


def test_untrained_catalog_is_a_failed_precondition(trained_client):
    with pytest.raises(FailedPreconditionError, match="Train"):
        trained_client.recommend("red-user-0", catalog="articles")


def test_an_item_added_after_training_is_rankable_from_its_tags(trained_client):
    trained_client.upsert_items(
        [
            {"item_id": "new-red-dress", "tags": ["red"], "attributes": {"colour": "red"}},
            {"item_id": "new-blue-shirt", "tags": ["blue"], "attributes": {"colour": "blue"}},
        ]
    )
    for user, first in (("red-user-4", "new-red-dress"), ("blue-user-4", "new-blue-shirt")):
        ranked = trained_client.rank_items(user, ["new-blue-shirt", "new-red-dress"])
        assert ranked.items[0].item_id == first and ranked.items[0].reason != "unknown item"
    only_new = trained_client.recommend(
        "red-user-4", count=1, exclude_item_ids=[f"red-item-{n}" for n in range(20)]
    )
    assert only_new.items[0].item_id == "new-red-dress"
    similar = trained_client.similar_items("red-item-3", count=25)
    assert "new-red-dress" in {i.item_id for i in similar.items}


def test_popularity_within_the_segment_for_new_users_with_attributes(start_server, tastes):
    from infogap.client import Client

    from ..conftest import load

    server = start_server(plugins={"disabled": ["lightfm"]})
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
        client.upsert_users(
            [
                {"user_id": "new-red", "attributes": {"segment": "red"}},
                {"user_id": "new-green", "attributes": {"segment": "green"}},  # too few users
            ]
        )
        red = client.recommend("new-red", count=5)
        assert red.strategy == "popularity" and colours(red) == {"red"}
        assert red.items[0].reason == "popular in segment=red"
        assert [e.feature for e in red.items[0].evidence] == ["segment=red"]
        assert red.items[0].evidence[0].weight == 1.0  # the segment's most popular item
        green = client.recommend("new-green", count=5)
        assert green.items[0].reason == "popular in default"


def test_cold_start_popularity_reads_the_profile_segments(start_server, tastes):
    from infogap.client import Client

    from ..conftest import load

    # Only "segment" is a model feature, so "vip" reaches popularity through the rule segment.
    server = start_server(
        plugins={"disabled": ["lightfm"]}, lightfm={"user_attributes": ["segment"]}
    )
    with Client(server.address) as client:
        load(client, tastes)
        client.patch_users(
            [{"user_id": f"blue-user-{n}", "set_attributes": {"vip": "yes"}} for n in range(25)]
        )
        client.define_segment("vips", 'attribute.vip = "yes"')
        client.train()
        client.upsert_users([{"user_id": "new-vip", "attributes": {"vip": "yes"}}])
        response = client.recommend("new-vip", count=5)
        assert response.items[0].reason == "popular in segment vips"
        assert "segment:vips" in [e.feature for e in response.items[0].evidence]
        assert colours(response) == {"blue"}
