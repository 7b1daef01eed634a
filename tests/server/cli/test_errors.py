"""The ``infogap`` command run as a user runs it (a subprocess, against a real server on port
0): a refusal of the server, an unreachable server or a malformed CSV file print one line on
stderr naming what went wrong, exit non-zero, and never show a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from infogap.client import Client


def infogap(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m infogap.server ARGS`` (so that PYTHONPATH is honoured, as in tests)."""
    return subprocess.run(
        [sys.executable, "-m", "infogap.server", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> str:
    """Asserts a non-zero exit with exactly one line on stderr, ``error: ...`` containing
    ``expected``, and no traceback anywhere; returns that line."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], lines[0]
    return lines[0]


def test_recommend_without_a_trained_model(server):
    result = infogap("recommend", "1", "--target", server.address, "--catalog", "books")
    assert_one_line_error(
        result, "error: FAILED_PRECONDITION: catalog 'books' has no trained model; call Train first"
    )


def test_a_bad_argument_names_the_status_and_the_field(server):
    result = infogap("recommend", "1", "--target", server.address, "--catalog", "../etc")
    line = assert_one_line_error(result, "error: INVALID_ARGUMENT: ")
    assert "catalog" in line


def test_starting_an_experiment_while_another_runs(server):
    variants = [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]
    with Client(server.address) as client:
        client.create_experiment("first", variants)
        client.create_experiment("second", variants)
        client.start_experiment("first")
    result = infogap("experiments", "start", "second", "--target", server.address)
    line = assert_one_line_error(result, "error: FAILED_PRECONDITION: ")
    assert "'first'" in line  # the experiment in the way


def test_train_an_empty_catalog(server):
    assert_one_line_error(
        infogap("train", "--target", server.address, "--catalog", "empty"),
        "error: FAILED_PRECONDITION: ",
    )


def test_no_server_listening():
    with socket.socket() as probe:  # a port that was free a moment ago, and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = f"127.0.0.1:{port}"
    line = assert_one_line_error(infogap("train", "--target", target), "error: UNAVAILABLE: ")
    assert f"is the InfoGap server running at {target}?" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--type", "rating", "--value-column", "stars"), "no column 'stars'"),
        (("--type", "rating", "--time-column", "rating"), "column 'rating': cannot read 'five'"),
    ],
)
def test_a_malformed_csv_file(server, tmp_path, args, expected):
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,rating\n1,10,five\n")
    result = infogap("import", "events", str(events), "--target", server.address, *args)
    assert_one_line_error(result, expected)
