"""The ``infogap`` command, by kind of command:

- ``server_commands``: run or configure a server (``serve``, ``keys generate``);
- ``client_commands``, ``experiment_commands``: talk to a running server through the SDK
  (``import ...``, ``train``, ``recommend``, ``experiments ...``);
- ``offline_commands``: work on files in this process (``eval``, ``tune``);
- ``demo``: a throwaway server loaded with MovieLens and queried.

Every failure a user can cause prints one ``error: ...`` line on stderr and exits with 1
(``errors.OneLineErrors``).
"""

from __future__ import annotations

import typer

from infogap.server.cli import (
    client_commands,
    demo,
    experiment_commands,
    offline_commands,
    server_commands,
)
from infogap.server.cli.errors import OneLineErrors

app = typer.Typer(cls=OneLineErrors, help="InfoGap personalization server.", no_args_is_help=True)
app.command()(server_commands.serve)
app.command()(client_commands.train)
app.command()(client_commands.recommend)
app.command()(offline_commands.tune)
app.command()(demo.demo)
app.command("eval")(offline_commands.evaluate)
app.add_typer(client_commands.import_app, name="import")
app.add_typer(server_commands.keys_app, name="keys")
app.add_typer(experiment_commands.experiments_app, name="experiments")
