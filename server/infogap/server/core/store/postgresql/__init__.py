"""The PostgreSQL store: every table in one PostgreSQL database, shared by any number of
servers, SQL kept with its concern (one module each), the schema in ``migrations``; model
artifacts stay in a local folder.

Open one with ``PostgreSQLStore(url, data_dir)``: it applies the migrations not yet applied.
"""

from __future__ import annotations

from infogap.server.core.store.interface import Store
from infogap.server.core.store.postgresql.coordination import Coordination
from infogap.server.core.store.postgresql.erasure import Erasure
from infogap.server.core.store.postgresql.events import Events
from infogap.server.core.store.postgresql.experiments import Experiments
from infogap.server.core.store.postgresql.models import Models
from infogap.server.core.store.postgresql.privacy import PrivacyLedgerTables
from infogap.server.core.store.postgresql.profiles import ProfileFacts
from infogap.server.core.store.postgresql.segments import Segments
from infogap.server.core.store.postgresql.users import UsersAndItems


class PostgreSQLStore(
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
    """``Store`` on a PostgreSQL database (``url``, ``postgresql://...``), with ``data_dir``
    the local folder of model artifacts."""


__all__ = ["PostgreSQLStore"]
