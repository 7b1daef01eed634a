"""``build_core``: whatever it started is stopped again when a later step fails, and ``close``
joins every thread the core started."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from infogap.server.core.errors import FailedPrecondition, StartupError
from infogap.server.core.factory import build_core
from infogap.server.core.plugins.hookspecs import hookimpl
from infogap.server.core.store import DATABASE_FILE

from ...conftest import make_settings

BAD_DEFINITION = {
    "name": "bad",
    "variants": [{"name": "a", "share": 0.7}, {"name": "b", "share": 0.7}],
}


def core_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("infogap-")}


def assert_released(data_dir: Path) -> None:
    """Another process can open the DuckDB file: this one holds no lock on it any more."""
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
            str(data_dir / DATABASE_FILE),
        ],
        capture_output=True,
        text=True,
    )
    assert opened.returncode == 0, opened.stderr


class FailingPlugin:
    @hookimpl
    def infogap_register_rerankers(self, register):
        raise RuntimeError("this plugin cannot register")


def test_a_bad_experiment_definition_leaves_nothing_running(tmp_path):
    before = core_threads()
    settings = make_settings(tmp_path, experiments={"definitions": [BAD_DEFINITION]})
    with pytest.raises(StartupError, match=r"experiments\.definitions 'bad'"):
        build_core(settings)
    assert not core_threads() - before  # threads of earlier tests may end meanwhile
    assert_released(tmp_path)
    build_core(make_settings(tmp_path)).close()


def test_a_plugin_failing_at_registration_leaves_nothing_running(tmp_path):
    before = core_threads()
    with pytest.raises(RuntimeError, match="cannot register"):
        build_core(make_settings(tmp_path), extra_plugins=[("failing", FailingPlugin())])
    assert not core_threads() - before  # threads of earlier tests may end meanwhile
    assert_released(tmp_path)


def test_privacy_without_its_guard_leaves_nothing_running(tmp_path):
    before = core_threads()
    settings = make_settings(
        tmp_path, privacy={"enabled": True}, plugins={"disabled": ["differential_privacy"]}
    )
    with pytest.raises(StartupError, match="differential_privacy"):
        build_core(settings)
    assert not core_threads() - before  # threads of earlier tests may end meanwhile
    assert_released(tmp_path)


def test_close_joins_every_thread_the_core_started(tmp_path):
    before = core_threads()
    core = build_core(make_settings(tmp_path, lifecycle={"retrain_interval_seconds": 3600}))
    started = {t.name for t in core_threads() - before}
    assert started == {
        "infogap-clustering",
        "infogap-event-writer",
        "infogap-erasure-retraining",
        "infogap-impression-log",
        "infogap-retrainer",
    }
    core.close()
    assert not core_threads() - before  # threads of earlier tests may end meanwhile
    assert_released(tmp_path)
    core.close()  # closing twice does nothing


def test_a_core_built_without_an_evaluator_refuses_to_evaluate(tmp_path):
    core = build_core(make_settings(tmp_path))
    try:
        with pytest.raises(FailedPrecondition, match="without the offline evaluation"):
            core.evaluate_history(
                "default",
                split="random",
                k=10,
                candidates=[],
                max_users=10,
                seed=1,
                include_privacy=False,
            )
    finally:
        core.close()
