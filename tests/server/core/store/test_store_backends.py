"""The store conformance suite against every backend in ``BACKENDS`` (DuckDB on a real file in
tmp_path, PostgreSQL on a real server, one database per folder), and what is DuckDB's own: the
file, its migrations, its cursors."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infogap.server.core.domain import User
from infogap.server.core.store import DATABASE_FILE, DuckDBStore, PostgreSQLStore, Store
from infogap.server.core.store.migrations import MIGRATIONS
from tests.server.core.store import conformance
from tests.server.core.store.conformance import Backend, StoreConformance, open_store
from tests.server.core.store.conformance.builders import T0


def _postgresql(request: pytest.FixtureRequest) -> Backend:
    """PostgreSQL stores on the session's server: one database per folder, so that opening a
    folder again finds its data."""
    postgres = request.getfixturevalue("postgres")
    artifacts = request.getfixturevalue("tmp_path_factory").mktemp("template")
    # Each test's database is a copy of one migrated once: faster than migrating each.
    migrated = postgres.template(
        "store_migrated", lambda url: PostgreSQLStore(url, artifacts).close()
    )
    return lambda folder: PostgreSQLStore(postgres.database_for(folder, migrated), folder)


# A new backend is one more entry: name -> a callable that, given the test's request (for the
# fixtures it needs), returns the callable opening the store kept at a folder.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "duckdb": lambda request: DuckDBStore,
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param](request)


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Iterator[Store]:
    yield from open_store(backend, tmp_path / "store")


class TestStoreConformance(StoreConformance):
    pass


def test_the_suite_calls_every_method_of_the_interface() -> None:
    called = set()
    for module in Path(conformance.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"store", "first", "again"}
            ):
                called.add(node.attr)
    assert sorted(Store.__abstractmethods__ - called) == []


def test_duckdb_store_keeps_one_file_in_its_data_dir(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "new" / "folder")
    try:
        assert store.data_dir == tmp_path / "new" / "folder"
        assert (store.data_dir / DATABASE_FILE).is_file()
        store.upsert_users([User("u1", {"a": "1"})], T0)
        rows = store.cursor().execute("SELECT user_id, attributes FROM users").fetchall()
        assert rows == [("u1", '{"a": "1"}')]
        versions = store.cursor().execute("SELECT version FROM schema_migrations").fetchall()
        assert [v for (v,) in versions] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        store.close()


def test_store_is_an_interface() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Store()  # type: ignore[abstract]
