"""One line on stderr and a non-zero exit for every failure a user can cause, never a traceback.

The commands themselves do not catch errors: the ``infogap`` group (``OneLineErrors``) catches
the SDK's ``InfoGapError`` (the server refused, or could not be reached), a CSV file's
format error and a file that cannot be read, prints ``error: STATUS: message`` on stderr and exits with 1.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from infogap.client import InfoGapError, UnavailableError
from infogap.server.datasets.csv_files import CsvFormatError

# Key in the context's ``meta`` (shared by nested contexts) under which the ``--target``
# option leaves the address to dial, so that "server not running" can name it.
TARGET_KEY = "infogap.target"
EXIT_FAILURE = 1


def fail(message: str) -> NoReturn:
    """Prints ``error: message`` on stderr and exits with 1. Not a click.ClickException: typer
    would draw that in a panel of several lines."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILURE)


def describe(error: InfoGapError, target: str | None) -> str:
    """One line for a failed call: the status name, the server's message (newlines folded),
    and for an unreachable server the address that was tried."""
    line = " ".join(f"{error.code.name}: {error.message}".split())
    if isinstance(error, UnavailableError):
        where = f" at {target}" if target else ""
        line += f" (is the InfoGap server running{where}? see --target)"
    return line


class OneLineErrors(TyperGroup):
    """The command group that runs every ``infogap`` command, subcommands included."""

    # ``ctx`` is a context of the click that typer vendors, which typer does not export.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except InfoGapError as error:
            fail(describe(error, ctx.meta.get(TARGET_KEY)))
        except CsvFormatError as error:
            fail(str(error))
        except OSError as error:  # a file to import or a config file that cannot be read
            fail(f"{error.strerror or error}: {error.filename}" if error.filename else str(error))
