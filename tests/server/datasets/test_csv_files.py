"""The CSV loader: numeric bins and stable event ids."""

from __future__ import annotations

from infogap.server.datasets import csv_files


def test_bins_label_numeric_values():
    bins = csv_files.Bins.parse("18,25,35")
    assert [bins.label(v) for v in ["7", "18", "24", "25", "60", "n/a"]] == [
        "<18",
        "18-24",
        "18-24",
        "25-34",
        "35+",
        "n/a",
    ]


def test_imported_events_get_stable_ids(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,rating,timestamp\n1,10,4,881250949\n1,11,2,881250950\n")
    read = lambda: list(  # noqa: E731
        csv_files.read_events(
            path,
            user_column="user_id",
            item_column="item_id",
            catalog="default",
            event_type="rating",
            type_column=None,
            value_column="rating",
            time_column="timestamp",
            time_format="unix",
            id_column=None,
        )
    )
    first, second = read(), read()
    assert [e["event_id"] for e in first] == [e["event_id"] for e in second]
    assert len({e["event_id"] for e in first}) == 2
    assert first[0]["value"] == 4.0 and first[0]["time"].year == 1997
