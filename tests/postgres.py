"""A real PostgreSQL server for the test run: ``initdb`` into a temporary folder, ``pg_ctl start``
on a free loopback port, stopped at the end of the session.

``PostgresServer.fresh_database()`` creates an empty database and returns its URL, for a test
that needs one of its own; ``database_for(folder)`` maps a folder to one database, so that a
store opened again on the same folder finds the same data (what the conformance suite's
``Backend`` needs). Both can copy a ``template`` database prepared once (a schema applied). The tests reach it through the session fixture ``postgres``
(``tests/conftest.py``), which skips, saying why, only when no PostgreSQL binaries exist.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

SEARCHED_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: the newest of /usr/lib/postgresql/*/bin, else
    the one on PATH; None when there is none."""
    for folder in SEARCHED_BIN_DIRS:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway PostgreSQL cluster (trust authentication, fsync off: for tests only)."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin_dir = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="infogap-pg-"))
        self._data = self._root / "data"
        self._as_root = os.geteuid() == 0
        self.port = _free_loopback_port()
        self._created = 0
        self._templates: set[str] = set()
        self._lock = threading.Lock()

    def _run(self, program: str, *arguments: str) -> None:
        command: Sequence[str] = [str(self._bin_dir / program), *arguments]
        if self._as_root:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        if self._as_root:
            shutil.chown(self._root, SUPERUSER)
        self._run("initdb", "-D", str(self._data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self._root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = self._root / "server.log"
        self._run("pg_ctl", "-D", str(self._data), "-l", str(log), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Creates the database ``name`` (a copy of ``template``, if given) unless it exists;
        returns its URL."""
        copy_of = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if exists.fetchone() is None:
                admin.execute(f'CREATE DATABASE "{name}"{copy_of}')
        return self.url(name)

    def fresh_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; returns its URL."""
        with self._lock:
            self._created += 1
            name = f"fresh_{self._created}"
        return self.create_database(name, template)

    def database_for(self, folder: Path, template: str | None = None) -> str:
        """The URL of the database kept for ``folder`` (created the first time, empty or a
        copy of ``template``)."""
        digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
        return self.create_database(f"folder_{digest}", template)

    def template(self, name: str, prepare: Callable[[str], None]) -> str:
        """The database ``name``, made the first time by ``prepare(url)`` (say, applying a
        schema), to copy with ``fresh_database(template=name)``: a copy is faster than doing
        it again. ``prepare`` must leave no connection open to it."""
        with self._lock:
            if name not in self._templates:
                prepare(self.create_database(name))
                self._templates.add(name)
        return name
