"""``python -m infogap.server``: the same as the ``infogap`` command."""

from infogap.server.cli import app

app()
