"""``infogap eval`` end to end on a small synthetic data set: every candidate through a real
in-process server, then report.json and a self-contained report.html."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from infogap.server.evaluation.report import write_report
from infogap.server.evaluation.runner import CANDIDATES, METRICS, run_evaluation

from ..synthetic import two_tastes

PLOTS = 4


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


@pytest.mark.parametrize("split", ["random", "cold-items"])
def test_eval_report(tmp_path: Path, split: str) -> None:
    dataset = write_csvs(tmp_path / "dataset")
    report = run_evaluation(
        dataset,
        k=5,
        split_kind=split,
        lightfm_overrides={"epochs": 5, "no_components": 8, "num_threads": 1},
        resamples=50,
    )
    json_path, html_path = write_report(report, tmp_path / "report")

    parser = Images()
    parser.feed(html_path.read_text(encoding="utf-8"))
    parser.close()
    assert len(parser.sources) == PLOTS
    assert all(s.startswith("data:image/png;base64,") for s in parser.sources)

    stored = json.loads(json_path.read_text())
    assert stored["protocol"] and stored["split"] == split
    assert set(stored["candidates"]) == {c.key for c in CANDIDATES}
    for candidate in stored["candidates"].values():
        assert set(candidate["metrics"]) == set(METRICS)
        for figure in candidate["metrics"].values():
            assert set(figure) == {"value", "ci95"}
        assert sum(candidate["strategy_share"].values()) == pytest.approx(1.0)
        assert len(candidate["curves"]["precision"]) == 20
    assert set(stored["candidates"]["popularity"]["strategy_share"]) == {"popularity"}
    if split == "random":
        # The planted tastes are learnable: LightFM beats popularity.
        lightfm = stored["candidates"]["lightfm"]["metrics"]["ndcg"]["value"]
        assert lightfm > stored["candidates"]["popularity"]["metrics"]["ndcg"]["value"]
