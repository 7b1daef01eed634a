"""The MovieLens column mapping shared by ``infogap demo``, the benchmarks and the evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infogap.server.datasets import movielens
from infogap.server.datasets.csv_files import CsvFormatError
from infogap.server.evaluation.data import load_movielens


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "users.csv").write_text(
        "user_id,age,gender,occupation,zip_code\n1,24,M,technician,85711\n2,53,F,other,94043\n"
    )
    (tmp_path / "items.csv").write_text(
        "item_id,title,year,genres\n1,Toy Story,1995,Animation|Children's|Comedy\n"
        "50,Star Wars,1977,Action|Sci-Fi\n"
    )
    (tmp_path / "events.csv").write_text(
        "user_id,item_id,rating,timestamp\n1,50,5,881250949\n2,1,3,891717742\n"
    )
    return tmp_path


def test_users_items_and_events_for_the_sdk(folder):
    assert list(movielens.users(folder)) == [
        {"user_id": "1", "attributes": {"age": "18-24", "gender": "M", "occupation": "technician"}},
        {"user_id": "2", "attributes": {"age": "50-55", "gender": "F", "occupation": "other"}},
    ]
    items = list(movielens.items(folder, catalog="films"))
    assert items[1] == {
        "item_id": "50",
        "catalog": "films",
        "attributes": {"title": "Star Wars", "year": "1977"},  # the title names it in reasons
        "tags": ["Action", "Sci-Fi"],
    }
    events = list(movielens.events(folder))
    assert [(e["user_id"], e["item_id"], e["type"], e["value"]) for e in events] == [
        ("1", "50", "rating", 5.0),
        ("2", "1", "rating", 3.0),
    ]
    assert events[0]["time"] == datetime(1997, 12, 4, 15, 55, 49, tzinfo=UTC)
    assert [e["event_id"] for e in movielens.events(folder)] == [e["event_id"] for e in events]
    assert movielens.titles(folder) == {"1": "Toy Story (1995)", "50": "Star Wars (1977)"}


def test_the_evaluation_bands_ages_and_reads_genres_the_same_way(folder):
    # Four users, two ages: the evaluation keeps only columns that describe rather than identify.
    (folder / "users.csv").write_text(
        "user_id,age,gender,occupation,zip_code\n"
        "1,24,M,technician,85711\n2,53,F,other,94043\n3,24,F,other,32067\n4,53,M,writer,43537\n"
    )
    data = load_movielens(folder)
    sent = [user["attributes"]["age"] for user in movielens.users(folder)]
    assert [attributes["age"] for attributes in data.user_attributes] == sent
    assert sent == ["18-24", "50-55", "18-24", "50-55"]
    assert data.item_tags == [item["tags"] for item in movielens.items(folder)]


def test_a_missing_column_names_the_file_and_the_column(folder):
    (folder / "events.csv").write_text("user_id,item_id,stars\n1,50,5\n")
    with pytest.raises(CsvFormatError, match=r"events\.csv: no column 'rating'"):
        list(movielens.events(folder))
