"""Shared fixtures: a real InfoGap server on a loopback port with its DuckDB file in tmp_path,
talked to through the real SDK; a real PostgreSQL server for the session (``postgres``)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infogap.client import Client
from infogap.server.assembly import build_server
from infogap.server.config import Settings, load_settings
from infogap.server.transport.server import InfoGapServer

from .postgres import PostgresServer, postgres_bin_dir
from .synthetic import TwoTastes, two_tastes

REPO = Path(__file__).resolve().parent.parent
FETCH_MOVIELENS = REPO.parent / "shared" / "datasets" / "fetch-movielens-100k"

# Small, deterministic model settings so tests train in a fraction of a second.
FAST_LIGHTFM = {"epochs": 10, "no_components": 16, "num_threads": 1, "random_state": 1}
# Tests of what a model serves pin the serving order with the fixed blending rule rather than
# the plan Train chooses from evidence (tests/e2e/test_serving_plan.py tests the plan; it
# passes ``serving={"serve_plan": True}``).
FIXED_RULE = {"serve_plan": False, "blend_below_interactions": 5}
# And the validated models serve, so a second Train meets the promotion gate, with 5% of the
# users held out whole (test_serving_plan.py tests the refit and the new-user buckets).
VALIDATED_MODELS_SERVE = {"refit_after_validation": False}
FEW_HELD_OUT_WHOLE = {"cold_validation_fraction": 0.05}


# Built-in model plugins the tests leave off unless they name them in ``models``: the tests
# written for LightFM and popularity keep their serving stack (their own tests enable them).
EXTRA_MODEL_PLUGINS = ("item_knn", "als", "ease")


def make_settings(data_dir: Path, models: tuple[str, ...] = (), **overrides: Any) -> Settings:
    """Test settings: loopback, any free port, fast LightFM, the fixed blending rule, the
    validated models serving, the ``EXTRA_MODEL_PLUGINS`` not named in ``models`` disabled;
    ``overrides`` win (``serving``, ``lifecycle`` and ``selection`` key by key)."""
    lightfm = {**FAST_LIGHTFM, **overrides.pop("lightfm", {})}
    serving = {**FIXED_RULE, **overrides.pop("serving", {})}
    overrides["lifecycle"] = {**VALIDATED_MODELS_SERVE, **overrides.pop("lifecycle", {})}
    overrides["selection"] = {**FEW_HELD_OUT_WHOLE, **overrides.pop("selection", {})}
    plugins = dict(overrides.pop("plugins", {}))
    off = [name for name in EXTRA_MODEL_PLUGINS if name not in models]
    plugins["disabled"] = [*plugins.get("disabled", []), *off]
    overrides["plugins"] = plugins
    defaults = {"host": "127.0.0.1", "port": 0, "serving": serving}
    return load_settings(data_dir=data_dir, lightfm=lightfm, **{**defaults, **overrides})


StartServer = Callable[..., InfoGapServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Starts servers (stopped at teardown); by default all on the same data directory."""
    started: list[InfoGapServer] = []

    def start(data_dir: Path | None = None, extra_plugins=(), **overrides: Any) -> InfoGapServer:
        settings = make_settings(data_dir or tmp_path / "data", **overrides)
        server = build_server(settings, extra_plugins).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(grace=0)  # a no-op for a server the test stopped already


@pytest.fixture
def server(start_server: StartServer) -> InfoGapServer:
    return start_server()


@pytest.fixture
def client(server: InfoGapServer) -> Iterator[Client]:
    with Client(server.address, timeout=30) as sdk:
        yield sdk


@pytest.fixture(scope="session")
def tastes() -> TwoTastes:
    return two_tastes()


def load(client: Client, data: TwoTastes) -> None:
    client.upsert_users(data.users)
    client.upsert_items(data.items)
    client.record(data.events)


@pytest.fixture
def trained_client(client: Client, tastes: TwoTastes) -> Client:
    """A client whose server holds the two-tastes data set, trained."""
    load(client, tastes)
    client.train()
    return client


@pytest.fixture(scope="session")
def movielens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MovieLens 100K as CSVs, made by the shared fetch script (cached between runs)."""
    output = subprocess.run(
        [str(FETCH_MOVIELENS)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(output.splitlines()[-1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (``tests/postgres.py``); skips, saying why, when
    no PostgreSQL binaries are installed."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PATH")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()
