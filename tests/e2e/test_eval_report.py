"""``infogap eval`` end to end on small synthetic data: every candidate through a real
in-process server, then report.json and a self-contained report.html; the data read from CSVs
or from a server's own store, with and without the epsilon-vs-quality section."""

from __future__ import annotations

import base64
import csv
import json
import math
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from infogap.client import (
    Client,
    FailedPreconditionError,
    InvalidArgumentError,
    ResourceExhaustedError,
)
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.store import DuckDBStore
from infogap.server.evaluation.data import load_store_history
from infogap.server.evaluation.privacy import PrivacyCurve
from infogap.server.evaluation.report import render_html, write_report
from infogap.server.evaluation.runner import (
    CANDIDATES,
    METRICS,
    candidates_named,
    evaluate_store,
    run_evaluation,
)
from infogap.server.evaluation.splits import make_split

from ..conftest import load, make_settings
from ..synthetic import two_tastes

PLOTS = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST_LIGHTFM = {"epochs": 5, "no_components": 8, "num_threads": 1}


def write_csvs(folder: Path) -> Path:
    data = two_tastes()
    folder.mkdir()
    with (folder / "users.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "segment"])
        writer.writerows([u["user_id"], u["attributes"]["segment"]] for u in data.users)
    with (folder / "items.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "genres"])
        writer.writerows([i["item_id"], "|".join(i["tags"])] for i in data.items)
    with (folder / "events.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "rating", "timestamp"])
        writer.writerows(
            [e["user_id"], e["item_id"], 5, int(e["time"].timestamp())] for e in data.events
        )
    return folder


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def embedded_pngs(page: str) -> list[bytes]:
    """The images of a report page, each checked to be inline base64 PNG data."""
    parser = Images()
    parser.feed(page)
    parser.close()
    prefix = "data:image/png;base64,"
    assert all(source.startswith(prefix) for source in parser.sources)
    images = [base64.b64decode(source[len(prefix) :], validate=True) for source in parser.sources]
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
    return images


def assert_metrics_are_shares(report: dict) -> None:
    """Every metric but the popularity rank is a share: value and interval within [0, 1]."""
    for candidate in report["candidates"].values():
        assert set(candidate["metrics"]) == set(METRICS)
        for name, figure in candidate["metrics"].items():
            assert set(figure) == {"value", "ci95"}
            if name != "novelty":
                values = [figure["value"], *figure["ci95"]]
                assert all(0.0 <= v <= 1.0 for v in values if not math.isnan(v)), (name, figure)


@pytest.mark.parametrize("split", ["random", "cold-items"])
def test_eval_report(tmp_path: Path, split: str) -> None:
    dataset = write_csvs(tmp_path / "dataset")
    report = run_evaluation(
        dataset,
        k=5,
        split_kind=split,
        lightfm_overrides=FAST_LIGHTFM,
        resamples=50,
    )
    json_path, html_path = write_report(report, tmp_path / "report")

    assert len(embedded_pngs(html_path.read_text(encoding="utf-8"))) == PLOTS

    stored = json.loads(json_path.read_text())
    assert stored["protocol"] and stored["split"] == split
    assert "privacy" not in stored
    assert set(stored["candidates"]) == {c.key for c in CANDIDATES}
    assert_metrics_are_shares(stored)
    for candidate in stored["candidates"].values():
        assert sum(candidate["strategy_share"].values()) == pytest.approx(1.0)
        assert len(candidate["curves"]["precision"]) == 20
    assert set(stored["candidates"]["popularity"]["strategy_share"]) == {"popularity"}
    for alone in ("ease", "item_knn", "item_knn_bm25", "als"):
        # Each model candidate is served by that model, popularity behind it, nothing else.
        shares = stored["candidates"][alone]["strategy_share"]
        assert set(shares) <= {alone, f"{alone}+popularity", "popularity"}
        assert shares.get(alone, 0) + shares.get(f"{alone}+popularity", 0) > 0.5
    if split == "random":
        # The planted tastes are learnable: LightFM beats popularity (within each segment,
        # which the attribute-less models do not always beat on data this small).
        lightfm = stored["candidates"]["lightfm"]["metrics"]["ndcg"]["value"]
        assert lightfm > stored["candidates"]["popularity"]["metrics"]["ndcg"]["value"]


def test_privacy_section(tmp_path: Path) -> None:
    """The epsilon-vs-quality curve: a row per epsilon with its draws, the two references, and
    one more plot in the page."""
    curve = PrivacyCurve(epsilons=(0.5, 10.0), draws=2)
    report = run_evaluation(
        write_csvs(tmp_path / "dataset"),
        k=5,
        candidates=candidates_named(["popularity"]),
        resamples=20,
        privacy=curve,
    )
    json_path, html_path = write_report(report, tmp_path / "report")

    privacy = json.loads(json_path.read_text())["privacy"]
    assert privacy["k"] == 5 and privacy["split"] == "random"
    assert privacy["users"] == report["counts"]["evaluated_users"]
    assert [r["epsilon"] for r in privacy["releases"]] == list(curve.epsilons)
    releases = [privacy["no_privacy"], privacy["bounding_only"], *privacy["releases"]]
    assert [r["draws"] for r in releases] == [1, 2, 2, 2]
    for release in releases:
        for name in ("ndcg", "recall"):
            figure = release[name]
            assert len(figure["values"]) == release["draws"]
            assert all(0.0 <= v <= 1.0 for v in figure["values"])
            assert figure["mean"] == pytest.approx(sum(figure["values"]) / release["draws"])
            assert figure["std"] >= 0.0
    # Without noise, the release is the non-private list up to the bounding.
    assert privacy["no_privacy"]["ndcg"]["mean"] > 0

    page = html_path.read_text(encoding="utf-8")
    assert len(embedded_pngs(page)) == PLOTS + 1
    assert "ε vs quality" in page


def record_mixed_history(client: Client) -> int:
    """The two-tastes data plus, on the same pairs, views (positive), impressions (not) and a
    rating below the positive threshold; returns how many events were stored."""
    data = two_tastes()
    load(client, data)
    extra = []
    for n, event in enumerate(data.events):
        later = event["time"] + timedelta(hours=1)
        kind, value = [("view", 1.0), ("impression", 1.0), ("rating", 2.0)][n % 3]
        extra.append(
            {**event, "event_id": f"extra-{n}", "type": kind, "value": value, "time": later}
        )
    client.record(extra)
    return len(data.events) + len(extra)


def test_evaluate_store(start_server, tmp_path: Path) -> None:
    """A server's stored history, evaluated after the server stops: the events keep their
    type, value and time, and the report has the shape of a CSV one."""
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    with Client(server.address, timeout=30) as client:
        stored = record_mixed_history(client)
    server.stop(grace=0)
    settings = make_settings(data_dir, lightfm=FAST_LIGHTFM)

    store = DuckDBStore(data_dir)
    try:
        history = load_store_history(store, "default", settings)
        assert len(history.events) == stored
        assert sorted(history.event_types) == ["impression", "purchase", "rating", "view"]
        messages = history.event_messages(history.events)
        assert len({m.event_id for m in messages}) == stored  # one id per row, not per pair
        positive_types = {
            m.type for m, positive in zip(messages, history.events.positive) if positive
        }
        assert positive_types == {"purchase", "view"}  # impressions weigh 0, 2 stars is below 4
        assert {tuple(sorted(a)) for a in history.item_attributes} == {("colour",)}
        assert all(history.item_tags) and all(history.user_attributes)
        for kind in ("random", "temporal"):
            # A held-out pair is held out with all its events, the view beside the purchase.
            split = make_split(history, kind, seed=42)
            trained = set(split.train.pair_keys().tolist())
            held = {(u << 32) | i for u, items in split.relevant.items() for i in items}
            assert held and not held & trained

        report = evaluate_store(
            store,
            "default",
            settings,
            k=5,
            candidate_keys=["popularity", "lightfm"],
            max_users=10,
        )
        with pytest.raises(InvalidArgument):
            evaluate_store(store, "default", settings, candidate_keys=["nonsense"])
    finally:
        store.close()

    assert report["dataset"].startswith("catalog 'default'")
    assert report["counts"]["events"] == stored
    assert report["counts"]["evaluated_users"] == 10 < report["counts"]["evaluable_users"]
    assert set(report["candidates"]) == {"popularity", "lightfm"}
    assert "privacy" not in report
    assert_metrics_are_shares(report)
    for candidate in report["candidates"].values():
        assert candidate["users"] == 10
    assert len(embedded_pngs(render_html(report))) == PLOTS


def test_evaluate_models_rpc_runs_on_the_servers_own_history(start_server, tmp_path: Path) -> None:
    """The admin RPC: the same evaluation on the live server's store, which it leaves alone."""
    server = start_server(tmp_path / "live", lightfm=FAST_LIGHTFM)
    with Client(server.address, timeout=60) as client:
        stored = record_mixed_history(client)
        client.train()
        serving = client.model_info().models[0].version
        response = client.evaluate_models(
            split="temporal", k=5, candidates=["popularity", "lightfm"], max_users=12, seed=7
        )
        assert [c.candidate for c in response.candidates] == ["popularity", "lightfm"]
        assert "latest 20%" in response.protocol
        for candidate in response.candidates:
            assert set(candidate.metrics) == set(METRICS)
            ndcg = candidate.metrics["ndcg"]
            assert 0 <= ndcg.ci_low <= ndcg.value <= ndcg.ci_high <= 1
            assert math.isnan(ndcg.standard_error)  # bootstrap intervals
            assert sum(candidate.strategy_shares.values()) == pytest.approx(1)
        report = json.loads(response.report_json)
        assert (report["split"], report["k"], report["seed"]) == ("temporal", 5, 7)
        assert report["counts"]["events"] == stored and report["counts"]["evaluated_users"] == 12
        assert len(embedded_pngs(response.report_html)) == PLOTS
        # The evaluation trained throwaway servers, not this one.
        assert client.model_info().models[0].version == serving

        with pytest.raises(InvalidArgumentError) as error:
            client.evaluate_models(candidates=["nonsense"])
        assert error.value.field_violations[0][0] == "candidates"
        with pytest.raises(InvalidArgumentError):
            client.evaluate_models(k=1000)
        with pytest.raises(FailedPreconditionError):
            client.evaluate_models("empty-catalog")
        # As while another evaluation runs:
        with server.core._evaluation_lock, pytest.raises(ResourceExhaustedError):
            client.evaluate_models()
