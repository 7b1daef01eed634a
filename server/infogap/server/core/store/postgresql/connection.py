"""The PostgreSQL database of a store, and how every part of ``PostgreSQLStore`` uses it.

Per-user lookups and every write go through a ``psycopg_pool.ConnectionPool``: each write is one
transaction (``_write``), committed before the method returns. Bulk reads (training,
evaluation, clustering, the all-users profile facts) stream as Arrow through the ADBC
PostgreSQL driver (``_arrow``), filtered in PostgreSQL; the aggregates are then computed by the
DuckDB store's own SQL over those Arrow tables in an in-memory DuckDB connection
(``_analyse``), so that both backends answer with the same values.

Every session runs with TimeZone UTC: the store's times are naive UTC datetimes in
``timestamp`` (without time zone) columns.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import duckdb
import psycopg
import pyarrow as pa
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from infogap.server.core.errors import StartupError, Unavailable
from infogap.server.core.store.postgresql.migrations import migrate

# Connections a store keeps open at most; requests beyond it wait for one.
POOL_SIZE = 8
SESSION_OPTIONS = "-c TimeZone=UTC"


class PostgreSQLConnection:
    """Owns the connection pool; the base of every part of ``PostgreSQLStore``."""

    def __init__(self, url: str, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir
        self._url = url
        try:
            with psycopg.connect(url, options=SESSION_OPTIONS) as db:
                migrate(db)
        except psycopg.OperationalError as error:
            raise StartupError(
                f"cannot open the PostgreSQL store at {_where(url)}: {error}".strip()
            ) from error
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"options": SESSION_OPTIONS},
            # A connection lost meanwhile (a restarted server) is replaced, not handed out.
            check=ConnectionPool.check_connection,
            open=True,
        )
        self._known_partitions: set[str] = set()
        # Opening either costs a tenth of a second, more than most reads: both are kept. Idle
        # ADBC connections wait here (one thread uses one at a time); DuckDB gives each read
        # a cursor of its own on one in-memory database.
        self._idle_adbc: queue.LifoQueue[Any] = queue.LifoQueue()
        self._duckdb = duckdb.connect()

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def close(self) -> None:
        self._pool.close()
        while not self._idle_adbc.empty():
            self._idle_adbc.get_nowait().close()
        self._duckdb.close()

    @contextmanager
    def _adbc(self) -> Iterator[Any]:
        """An ADBC connection of this thread's own for the block, reused afterwards unless the
        block failed (its state is then unknown: it is closed)."""
        with unreachable_as_unavailable():
            try:
                connection = self._idle_adbc.get_nowait()
            except queue.Empty:
                connection = adbc.connect(self._url)
            try:
                yield connection
            except BaseException:
                connection.close()
                raise
            self._idle_adbc.put(connection)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection for the block."""
        with unreachable_as_unavailable(), self._pool.connection() as db:
            yield db

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection]:
        """One transaction on a pooled connection: committed when the block ends, rolled back
        if it raises."""
        with self._connection() as db, db.transaction():
            yield db

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a (per-user, small) query, on a pooled connection."""
        with self._connection() as db:
            return db.execute(sql, params).fetchall()

    def _arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """The whole result of a bulk query as an Arrow table, through ADBC (``$1`` parameters),
        without the driver's field metadata."""
        with self._adbc() as connection, connection.cursor() as cursor:
            cursor.execute(sql, tuple(params) if params else None)
            table = cursor.fetch_arrow_table()
            connection.rollback()  # ends the read's transaction: no snapshot held while idle
        return table.cast(pa.schema([pa.field(f.name, f.type) for f in table.schema]))

    def _analyse(
        self,
        tables: Mapping[str, pa.Table],
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        views: Sequence[str] = (),
    ) -> pa.Table:
        """The Arrow result of DuckDB ``sql`` over ``tables`` (see ``_over_arrow``)."""
        with _over_arrow(self._duckdb, tables, views) as db:
            return db.sql(sql, params=params or None).to_arrow_table()

    def _analyse_rows(
        self,
        tables: Mapping[str, pa.Table],
        sql: str,
        params: Sequence[Any] = (),
        views: Sequence[str] = (),
    ) -> list[tuple[Any, ...]]:
        """Every row of DuckDB ``sql`` over ``tables`` (see ``_over_arrow``)."""
        with _over_arrow(self._duckdb, tables, views) as db:
            return db.execute(sql, list(params)).fetchall()

    def _rows_as_arrow(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """A per-user query's rows (psycopg, ``%s`` parameters) as an Arrow table of
        ``schema``, whose columns are the query's, in order."""
        rows = self._rows(sql, params)
        columns: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in schema]
        return pa.table(
            [pa.array(values, f.type) for values, f in zip(columns, schema)], schema=schema
        )


@contextmanager
def _over_arrow(
    database: duckdb.DuckDBPyConnection, tables: Mapping[str, pa.Table], views: Sequence[str]
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new cursor on the in-memory ``database`` with ``tables`` registered under their names
    and the ``views`` statements (temporary views) run: where the DuckDB store's SQL runs over
    PostgreSQL rows. Registrations and temporary views are the cursor's own."""
    with database.cursor() as db:
        for name, table in tables.items():
            db.register(name, table)
        for view in views:
            db.execute(view)
        yield db


def _where(url: str) -> str:
    """The database a URL names, without its password: ``host:port/dbname``."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "a URL that cannot be parsed"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


@contextmanager
def unreachable_as_unavailable() -> Iterator[None]:
    """A lost or refused connection (a restarting or unreachable PostgreSQL) is the server
    being briefly unavailable, which callers retry: UNAVAILABLE, not an internal error."""
    try:
        yield
    except (psycopg.OperationalError, adbc.OperationalError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise Unavailable(f"the PostgreSQL store cannot be reached: {reason}") from error


def notify(db: psycopg.Connection, channel: str, payload: str = "") -> None:
    """Sends a notification on ``channel``, delivered when ``db``'s transaction commits."""
    db.execute("SELECT pg_notify(%s, %s)", [channel, payload])
