"""``python -m infogap.server``: the same as the ``infogap`` command."""

from .cli import app

app()
