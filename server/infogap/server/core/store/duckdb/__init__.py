"""The DuckDB store: every table in one embedded file of the data directory, SQL kept with its
concern (one module each), the schema in ``core.store.migrations``.

Open one with ``DuckDBStore(data_dir)``: it creates the folder and the file if need be and
applies the migrations not yet applied.
"""

from __future__ import annotations

from infogap.server.core.store.duckdb.connection import DATABASE_FILE, DuckDBConnection
from infogap.server.core.store.duckdb.coordination import Coordination
from infogap.server.core.store.duckdb.erasure import Erasure
from infogap.server.core.store.duckdb.events import EVENT_WEIGHT_SQL, Events
from infogap.server.core.store.duckdb.experiments import Experiments
from infogap.server.core.store.duckdb.models import Models
from infogap.server.core.store.duckdb.privacy import PrivacyLedgerTables
from infogap.server.core.store.duckdb.profiles import ProfileFacts
from infogap.server.core.store.duckdb.segments import Segments
from infogap.server.core.store.duckdb.users import UsersAndItems
from infogap.server.core.store.interface import Store


class DuckDBStore(
    UsersAndItems,
    Events,
    ProfileFacts,
    Segments,
    Models,
    Experiments,
    PrivacyLedgerTables,
    Erasure,
    Coordination,
    Store,
):
    """``Store`` on one DuckDB file: ``data_dir / DATABASE_FILE``.

    Beyond the interface it offers ``cursor()``, this thread's DuckDB connection, for tests and
    tools that inspect the file; the core never uses it.
    """


__all__ = ["DATABASE_FILE", "EVENT_WEIGHT_SQL", "DuckDBConnection", "DuckDBStore"]
