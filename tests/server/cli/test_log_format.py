"""``infogap serve --log-format json``: one JSON object per log line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infogap.server.cli.log_format import configure_logging

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_records_carry_time_level_logger_message_and_exception(restore_root_logger):
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log = logging.getLogger("infogap.test")
    log.info("served %d lists\nin one go", 3)
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("it failed")
    logging.getLogger("infogap.test.quiet").debug("below the level")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # the message's newline stays inside its line
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "infogap.test"
    assert first["message"] == "served 3 lists\nin one go"
    assert first["time"].endswith("+00:00") and "exception" not in first
    assert second["level"] == "ERROR" and second["message"] == "it failed"
    assert "ValueError: bad value" in second["exception"]


def test_text_format_stays_the_default_lines(restore_root_logger):
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    logging.getLogger("infogap.test").warning("plain")
    assert stream.getvalue().rstrip().endswith("WARNING infogap.test: plain")


def test_serve_logs_json_lines(tmp_path: Path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            str(REPO / part) for part in ("server", "plugins", "client_sdk/src", ".")
        ),
    }
    command = [sys.executable, "-m", "infogap.server", "serve", "--data-dir", str(tmp_path)]
    command += ["--port", "0", "--log-format", "json"]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "InfoGap serving on" in line:
                break
    finally:
        process.terminate()
        process.wait(30)
    records = [json.loads(line) for line in lines]
    served = [r for r in records if r["message"].startswith("InfoGap serving on 127.0.0.1:")]
    assert served and served[0]["logger"] == "infogap.server.transport.server"
