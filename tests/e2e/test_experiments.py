"""Online experiments through the real server: definition and lifecycle, stable assignment,
labelled responses, impressions, attribution, and reports that call the right winner on
simulated users (and none in an A/A test)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pytest

from infogap.client import (
    AlreadyExistsError,
    Client,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from infogap.server.core.errors import StartupError
from infogap.server.plugin import hookimpl
from infogap.v1.admin_service_pb2 import (
    EXPERIMENT_STATUS_DRAFT,
    EXPERIMENT_STATUS_RUNNING,
    EXPERIMENT_STATUS_STOPPED,
)

from ..conftest import load
from .test_cli import invoke

PERSONAL = {"name": "personal", "share": 0.5, "strategies": ["lightfm"], "blend": False}
POPULAR = {"name": "popular", "share": 0.5, "strategies": ["popularity"]}
# The popularity model serves one global list: no attribute is shared by enough users to get
# a list of its own, so only the LightFM variant can tell the simulated users' tastes apart.
GLOBAL_POPULARITY = {"popularity": {"min_segment_users": 1_000_000}}


def expected_variant(experiment: str, user_id: str, names: list[str], shares: list[float]) -> str:
    """The assignment rule, computed independently: SHA-256 of name NUL user id, first 8 bytes
    as a point in [0, 1), against the cumulative shares; "" beyond them."""
    digest = hashlib.sha256(f"{experiment}\x00{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    position = int(np.searchsorted(np.cumsum(shares), point, side="right"))
    return names[position] if position < len(names) else ""


def simulate(client: Client, experiment: str, users: int, seed: int) -> dict[str, int]:
    """Cold users with a colour taste each get one list; they click items of their colour with
    probability 0.3 and others with 0.03, and a click converts (value 20) with probability 0.3.
    Returns impressions served per variant."""
    rng = np.random.default_rng(seed)
    population = [
        {"user_id": f"{experiment}-visitor-{n}", "attributes": {"segment": ("red", "blue")[n % 2]}}
        for n in range(users)
    ]
    client.upsert_users(population)
    events, served = [], {}
    for user in population:
        response = client.recommend(user["user_id"], count=10)
        assert response.experiment == experiment
        served[response.variant] = served.get(response.variant, 0) + len(response.items)
        taste = user["attributes"]["segment"]
        for item in response.items:
            liked = item.item_id.startswith(taste)
            if rng.random() < (0.3 if liked else 0.03):
                event = {
                    "user_id": user["user_id"],
                    "item_id": item.item_id,
                    "recommendation_id": response.recommendation_id,
                }
                events.append({**event, "type": "click"})
                if rng.random() < 0.3:
                    events.append({**event, "type": "purchase", "value": 20.0})
    client.record(events)
    return served


@pytest.fixture
def trained(start_server, tastes):
    server = start_server(**GLOBAL_POPULARITY)
    with Client(server.address, timeout=30) as client:
        load(client, tastes)
        client.train()
        yield server, client


def by_variant(report) -> dict:
    return {v.variant: v for v in report.variants}


def test_a_variant_that_serves_better_items_wins_and_an_a_a_test_finds_nothing(trained):
    _, client = trained
    created = client.create_experiment(
        "personal-vs-popular", [POPULAR, PERSONAL], description="does LightFM beat popularity?"
    )
    assert created.status == EXPERIMENT_STATUS_DRAFT
    assert created.attribution_window.ToTimedelta() == timedelta(hours=24)  # the default
    assert client.start_experiment("personal-vs-popular").status == EXPERIMENT_STATUS_RUNNING

    served = simulate(client, "personal-vs-popular", users=600, seed=3)
    report = client.experiment_report("personal-vs-popular")
    variants = by_variant(report)
    assert [v.variant for v in report.variants] == ["popular", "personal"]  # control first
    assert {name: v.impressions for name, v in variants.items()} == served
    assert sum(v.users for v in report.variants) == 600
    assert not report.sample_ratio_mismatch and report.sample_ratio_p_value > 0.001
    personal, popular = variants["personal"], variants["popular"]
    assert personal.ctr.value > popular.ctr.value
    ctr = next(c for c in personal.comparisons if c.metric == "ctr")
    assert ctr.significant and ctr.p_value < 0.05 and ctr.lift_ci_low > 0
    assert report.winner == "personal"
    assert report.conclusion.startswith("personal wins on CTR")
    # Every figure is consistent with its parts.
    for v in report.variants:
        assert v.ctr.value == pytest.approx(v.clicks / v.impressions)
        assert v.revenue == pytest.approx(20.0 * v.conversions)
        assert v.revenue_per_user.value == pytest.approx(v.revenue / v.users)
        assert v.ctr.ci_low < v.ctr.value < v.ctr.ci_high
        assert 0 <= v.conversion_rate.value <= 1
    assert not popular.comparisons  # the control is not compared with itself

    # One experiment per catalog at a time.
    client.create_experiment("a-a", [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}])
    with pytest.raises(FailedPreconditionError, match="personal-vs-popular"):
        client.start_experiment("a-a")
    client.stop_experiment("personal-vs-popular")
    assert client.recommend("someone").experiment == ""  # served as usual again

    client.start_experiment("a-a")
    simulate(client, "a-a", users=600, seed=4)
    aa = client.experiment_report("a-a")
    assert aa.winner == ""
    assert not any(c.significant for v in aa.variants for c in v.comparisons)
    assert aa.conclusion.startswith("No significant difference")
    # The stopped experiment's report is unchanged by later traffic.
    assert client.experiment_report("personal-vs-popular").variants == report.variants


def test_assignment_is_a_stable_hash_across_restarts(start_server, tastes, tmp_path):
    server = start_server(data_dir=tmp_path / "stable")
    names, shares = ["control", "treatment"], [0.3, 0.5]  # 20% stay outside
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
        client.create_experiment("stable", [{"name": n, "share": s} for n, s in zip(names, shares)])
        client.start_experiment("stable")
        before = {f"u{n}": client.recommend(f"u{n}").variant for n in range(200)}
        ranked = client.rank_items("u1", ["red-item-1", "blue-item-2"])
        assert ranked.experiment == "stable" and ranked.variant == before["u1"]
    server.stop(grace=0)

    restarted = start_server(data_dir=tmp_path / "stable")
    with Client(restarted.address) as client:
        after = {f"u{n}": client.recommend(f"u{n}").variant for n in range(200)}
        assert after == before
        assert after == {user: expected_variant("stable", user, names, shares) for user in after}
        counts = {v: list(after.values()).count(v) for v in ["control", "treatment", ""]}
        assert 40 <= counts["control"] <= 80 and 80 <= counts["treatment"] <= 120
        assert client.list_experiments()[0].status == EXPERIMENT_STATUS_RUNNING


def test_a_variant_can_pin_an_older_model_version(trained, tastes):
    _, client = trained
    first = client.model_info().models[0].version
    client.record(tastes.events[:5])
    client.train()
    second = client.model_info().models[0].version
    assert first != second
    client.create_experiment(
        "old-vs-new",
        [{"name": "old", "share": 0.5, "model_version": first}, {"name": "new", "share": 0.5}],
    )
    client.start_experiment("old-vs-new")
    versions = {}
    for n in range(40):
        response = client.recommend(f"red-user-{n % 30}")
        versions.setdefault(response.variant, set()).add(response.model_version)
    assert versions == {"old": {first}, "new": {second}}


def test_bad_definitions_and_transitions_are_refused_with_the_reason(trained):
    _, client = trained

    def refused(variants, field, **options):
        with pytest.raises(InvalidArgumentError) as error:
            client.create_experiment("bad", variants, **options)
        assert field in {f for f, _ in error.value.field_violations}, error.value

    refused([PERSONAL], "experiment.variants")  # one variant
    refused([POPULAR, {**PERSONAL, "share": 0.6}], "experiment.variants")  # shares above 1
    refused([POPULAR, {**PERSONAL, "share": 0}], "experiment.variants[1].share")
    refused([POPULAR, {**PERSONAL, "name": "popular"}], "experiment.variants[1]")
    refused([POPULAR, {**PERSONAL, "strategies": ["nope"]}], "experiment.variants[1].strategies[0]")
    refused(
        [POPULAR, {**PERSONAL, "model_version": "19990101"}], "experiment.variants[1].model_version"
    )
    refused(
        [POPULAR, PERSONAL], "experiment.attribution_window", attribution_window=timedelta(days=91)
    )
    with pytest.raises(InvalidArgumentError):
        client.create_experiment("", [POPULAR, PERSONAL])
    assert client.list_experiments() == []  # nothing of the refused ones was stored

    client.create_experiment("ok", [POPULAR, PERSONAL])
    with pytest.raises(AlreadyExistsError):
        client.create_experiment("ok", [POPULAR, PERSONAL])
    with pytest.raises(FailedPreconditionError, match="not running"):
        client.stop_experiment("ok")
    client.start_experiment("ok")
    with pytest.raises(FailedPreconditionError, match="only a draft"):
        client.start_experiment("ok")
    client.stop_experiment("ok")
    with pytest.raises(FailedPreconditionError):
        client.start_experiment("ok")
    for call in (client.start_experiment, client.stop_experiment, client.experiment_report):
        with pytest.raises(NotFoundError):
            call("missing")


def test_experiments_defined_in_the_config_start_with_the_server(start_server, tastes, tmp_path):
    definition = {
        "name": "from-config",
        "variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5, "blend": False}],
        "attribution_window_hours": 2,
        "start": True,
    }
    server = start_server(data_dir=tmp_path / "configured")
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
    server.stop(grace=0)
    server = start_server(
        data_dir=tmp_path / "configured", experiments={"definitions": [definition]}
    )
    with Client(server.address) as client:
        (experiment,) = client.list_experiments()
        assert experiment.status == EXPERIMENT_STATUS_RUNNING
        assert experiment.attribution_window.ToTimedelta() == timedelta(hours=2)
        assert client.recommend("red-user-1").variant in {"a", "b"}


class PageParser(HTMLParser):
    """Collects what a rendered report must have: its images and headings."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[bytes] = []
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            source = dict(attrs)["src"]
            assert source.startswith("data:image/png;base64,")
            self.images.append(base64.b64decode(source.split(",", 1)[1]))
        self._in_heading = tag in ("h1", "h2")

    def handle_data(self, data):
        if self._in_heading:
            self.headings.append(data.strip())
            self._in_heading = False


def test_the_command_line_creates_runs_and_reports_an_experiment(trained, tmp_path):
    server, client = trained
    definition = tmp_path / "experiment.toml"
    definition.write_text(
        'name = "cli-test"\ndescription = "popularity against LightFM"\n'
        "attribution_window_hours = 48\n"
        '[[variants]]\nname = "popular"\nshare = 0.5\nstrategies = ["popularity"]\n'
        '[[variants]]\nname = "personal"\nshare = 0.5\nstrategies = ["lightfm"]\nblend = false\n'
    )
    target = ("--target", server.address)
    created = invoke("experiments", "create", str(definition), "--start", *target)
    assert "cli-test [running] on default: popular 50%, personal 50%" in created
    simulate(client, "cli-test", users=300, seed=5)

    html_path, json_path = tmp_path / "report.html", tmp_path / "report.json"
    output = invoke(
        "experiments",
        "report",
        "cli-test",
        "--html",
        str(html_path),
        "--json",
        str(json_path),
        *target,
    )
    assert "personal wins on CTR" in output and "sample ratio check" in output
    report = json.loads(json_path.read_text())
    assert report["winner"] == "personal"
    assert [v["variant"] for v in report["variants"]] == ["popular", "personal"]

    page = PageParser()
    page.feed(html_path.read_text())
    assert page.headings[:2] == ["Experiment cli-test", "Verdict"]
    (image,) = page.images
    assert image.startswith(b"\x89PNG") and len(image) > 10_000
    assert "cli-test [stopped]" in invoke("experiments", "stop", "cli-test", *target)
    assert "cli-test [stopped]" in invoke("experiments", "list", *target)


def test_feedback_is_attributed_by_recommendation_user_item_and_window(trained):
    _, client = trained
    client.create_experiment(
        "attribution",
        [{"name": "only", "share": 1.0}, {"name": "none", "share": 1e-9}],
        attribution_window=timedelta(seconds=30),
    )
    client.start_experiment("attribution")
    response = client.recommend("red-user-3", count=5)
    assert response.variant == "only"
    served = [item.item_id for item in response.items]
    unserved = next(
        f"{c}-item-{n}" for c in ("red", "blue") for n in range(20) if f"{c}-item-{n}" not in served
    )
    now = datetime.now(UTC)
    mine = {"user_id": "red-user-3", "recommendation_id": response.recommendation_id}
    client.record(
        [
            {**mine, "item_id": served[0], "type": "click", "time": now},  # counts
            {**mine, "item_id": served[0], "type": "click", "time": now},  # same item: once
            {
                **mine,
                "item_id": served[1],
                "type": "click",
                "time": now + timedelta(seconds=120),
            },  # late
            {**mine, "item_id": unserved, "type": "click", "time": now},  # not a served item
            {**mine, "item_id": unserved, "type": "purchase", "value": 12.5, "time": now},  # counts
            {
                **mine,
                "item_id": served[2],
                "type": "view",
                "time": now,
            },  # neither click nor conversion
            {
                "user_id": "red-user-4",
                "recommendation_id": response.recommendation_id,
                "item_id": served[3],
                "type": "click",
                "time": now,
            },  # someone else's
            {"user_id": "red-user-3", "item_id": served[4], "type": "click", "time": now},  # no id
        ]
    )
    report = client.experiment_report("attribution")
    only = by_variant(report)["only"]
    assert (only.users, only.recommendations, only.impressions) == (1, 1, 5)
    assert (only.clicks, only.conversions, only.revenue) == (1, 1, 12.5)
    assert only.ctr.value == pytest.approx(1 / 5)
    assert by_variant(report)["none"].users == 0


def test_a_bad_configured_experiment_keeps_the_server_from_starting(start_server, tmp_path):
    definition = {
        "name": "bad",
        "variants": [{"name": "a", "share": 0.7}, {"name": "b", "share": 0.7}],
    }
    with pytest.raises(StartupError, match=r"experiments\.definitions 'bad': .*add up to 1\.4"):
        start_server(data_dir=tmp_path / "bad", experiments={"definitions": [definition]})
    # Nothing was left open: the same data directory serves at once without the definition.
    start_server(data_dir=tmp_path / "bad")


def test_an_experiment_whose_pinned_model_is_gone_is_stopped_at_restart(
    trained, start_server, tastes, tmp_path
):
    server, client = trained
    pinned = client.model_info().models[0].version
    client.record(tastes.events[:5])
    client.train()
    client.create_experiment(
        "pinned",
        [{"name": "old", "share": 0.5, "model_version": pinned}, {"name": "new", "share": 0.5}],
    )
    client.start_experiment("pinned")
    data_dir = server.core.settings.data_dir
    server.stop(grace=0)
    shutil.rmtree(data_dir / "models" / "default" / pinned)

    restarted = start_server(data_dir=data_dir, **GLOBAL_POPULARITY)
    with Client(restarted.address) as again:
        (experiment,) = again.list_experiments()
        assert experiment.status == EXPERIMENT_STATUS_STOPPED
        assert again.recommend("red-user-1").experiment == ""


class ReverseReranker:
    name = "reverse"
    order = 100

    def rerank(self, context, candidates):
        return list(reversed(candidates))


class ReversePlugin:
    @hookimpl
    def infogap_register_rerankers(self, register, config):
        register(ReverseReranker())


def test_a_variant_can_do_without_a_reranking_plugin(start_server, tastes):
    server = start_server(extra_plugins=[("reverse", ReversePlugin())])
    with Client(server.address) as client:
        load(client, tastes)
        client.train()
        with pytest.raises(InvalidArgumentError) as error:
            client.create_experiment(
                "rerank",
                [
                    {"name": "plain", "share": 0.5, "excluded_rerankers": ["nope"]},
                    {"name": "reversed", "share": 0.5},
                ],
            )
        assert error.value.field_violations[0][0] == "experiment.variants[0].excluded_rerankers[0]"
        assert "the registered ones are: diversity, reverse" in error.value.message
        client.create_experiment(
            "rerank",
            [
                {"name": "plain", "share": 0.5, "excluded_rerankers": ["reverse"]},
                {"name": "reversed", "share": 0.5},
            ],
        )
        client.start_experiment("rerank")
        seen = set()
        for n in range(30):
            response = client.recommend(f"red-user-{n}", count=5)
            scores = [item.score for item in response.items]
            # Without the reranker, the best scores first; with it, the list turned around.
            expected = sorted(scores, reverse=response.variant == "plain")
            assert scores == expected, response.variant
            seen.add(response.variant)
        assert seen == {"plain", "reversed"}
