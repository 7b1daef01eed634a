"""The ``infogap`` command against a real server: CSV import (idempotent), train, recommend,
and tune on a stopped server's data directory."""

from __future__ import annotations

from typer.testing import CliRunner

from infogap.client import Client
from infogap.server.cli import app

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_csvs(folder):
    (folder / "users.csv").write_text("user_id,age,plan\n1,24,gold\n2,61,free\n3,33,gold\n")
    (folder / "items.csv").write_text(
        "item_id,title,genres\n10,A,Comedy|Drama\n11,B,Action\n12,C,Comedy\n"
    )
    (folder / "events.csv").write_text(
        "user_id,item_id,rating,timestamp\n1,10,5,881250949\n1,11,2,881250950\n2,11,4,881250951\n"
        "3,10,4,881250952\n3,12,5,881250953\n2,12,1,881250954\n"
    )


def test_import_train_recommend(server, tmp_path):
    write_csvs(tmp_path)
    target = ("--target", server.address)
    assert "3 users upserted" in invoke(
        "import", "users", str(tmp_path / "users.csv"), *target, "--bin", "age=18,25,35,45"
    )
    assert "3 items upserted" in invoke(
        "import",
        "items",
        str(tmp_path / "items.csv"),
        *target,
        "--tags-column",
        "genres",
        "--attributes",
        "",
    )
    events = (
        "import",
        "events",
        str(tmp_path / "events.csv"),
        *target,
        "--type",
        "rating",
        "--value-column",
        "rating",
        "--time-column",
        "timestamp",
    )
    assert "6 events stored, 0 duplicates" in invoke(*events)
    assert "0 events stored, 6 duplicates" in invoke(*events)

    with Client(server.address) as client:
        assert dict(client.profile("1").attributes) == {"age": "18-24", "plan": "gold"}
        assert dict(client.profile("2").attributes) == {"age": "45+", "plan": "free"}
    assert "popularity" in invoke("train", *target)
    assert "│ 12 " in invoke("recommend", "1", *target)
    with Client(server.address) as client:  # the items user 1 rated are excluded
        assert {i.item_id for i in client.recommend("1").items} == {"12"}


def test_tune_reports_the_best_parameters(start_server, tastes, tmp_path):
    from ..conftest import load

    server = start_server(data_dir=tmp_path / "tune")
    with Client(server.address) as client:
        load(client, tastes)
    server.stop(grace=0)
    output = invoke("tune", "--data-dir", str(tmp_path / "tune"), "--trials", "1")
    assert "ndcg@10" in output and "[lightfm]" in output and "no_components =" in output


def _fails_in_one_line(*args: str) -> str:
    """Runs a command that must fail: exit code 1, one ``error:`` line, no traceback."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_server_errors_print_one_line_and_exit_non_zero(server, tmp_path):
    target = ("--target", server.address)
    assert "no trained model" in _fails_in_one_line("recommend", "u1", *target)
    assert "NOT_FOUND" in _fails_in_one_line("experiments", "stop", "nope", *target)
    assert "NOT_FOUND" in _fails_in_one_line("experiments", "report", "nope", *target)
    assert "NOT_FOUND" in _fails_in_one_line("experiments", "start", "nope", *target)
    assert _fails_in_one_line("train", "--catalog", "x" * 5000, *target)
    missing = tmp_path / "missing.csv"
    assert "missing.csv" in _fails_in_one_line("import", "users", str(missing), *target)
    gone = ("--target", "127.0.0.1:1")
    for command in (("train",), ("recommend", "u1"), ("experiments", "list")):
        assert "is the InfoGap server running" in _fails_in_one_line(*command, *gone)
