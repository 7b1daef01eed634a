"""Commands that run or configure a server: ``serve`` and ``keys generate``."""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.markup import escape

from infogap.server.cli.common import console
from infogap.server.cli.log_format import configure_logging
from infogap.server.config import load_settings

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


def serve(
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="postgresql://USER@HOST:PORT/DB: keep the state in PostgreSQL, shared by "
            "replicas (store.url). Without it, the DuckDB file in --data-dir."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (0: any free port).")] = None,
    http_port: Annotated[
        int | None,
        typer.Option(
            help="Also serve HTTP on this port: the Connect protocol (JSON) for every RPC, "
            "/readyz and the HTTP-only endpoints (sets http.port; 0: any free port)."
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow a non-loopback address without API keys or TLS (sets auth.insecure).",
        ),
    ] = False,
    artifacts: Annotated[
        str | None,
        typer.Option(
            help="Artifact store shared by the replicas, file:///dir or s3://bucket/prefix "
            "(sets artifacts.url).",
        ),
    ] = None,
    log_format: Annotated[
        Literal["text", "json"] | None,
        typer.Option(help="text, or json: one JSON object per line (telemetry.log_format)."),
    ] = None,
) -> None:
    """Run the server (gRPC, and HTTP with --http-port) until interrupted; SIGTERM drains first."""
    from infogap.server.assembly import build_server
    from infogap.server.core.errors import StartupError
    from infogap.server.transport.auth import InsecureListenerError

    # Text until the settings say otherwise: loading them may already log.
    configure_logging("text")
    overrides: dict[str, Any] = {
        key: value
        for key, value in {"data_dir": data_dir, "host": host, "port": port}.items()
        if value is not None
    }
    if http_port is not None:
        overrides["http"] = {"port": http_port}  # merged into the config file's [http]
    if store is not None:
        overrides["store"] = {"url": store}  # merged into the config file's [store]
    if insecure:
        overrides["auth"] = {"insecure": True}  # merged into the config file's [auth]
    if artifacts is not None:
        overrides["artifacts"] = {"url": artifacts}  # merged into the config file's [artifacts]
    if log_format is not None:
        overrides["telemetry"] = {"log_format": log_format}  # merged into [telemetry]
    try:
        settings = load_settings(config, **overrides)
    except ValidationError as error:  # e.g. an --artifacts URL of another scheme
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(code=1) from error
    configure_logging(settings.telemetry.log_format)
    try:
        server = build_server(settings).start()
    except (InsecureListenerError, StartupError) as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(code=1) from error
    console.print(f"InfoGap serving on [bold]{server.address}[/] (data in {settings.data_dir})")
    if server.http_url is not None:
        console.print(f"HTTP (Connect JSON, /readyz) on [bold]{server.http_url}[/]")
    # SIGTERM (Kubernetes, systemd) drains first: NOT_SERVING while still answering, so the
    # load balancer moves traffic away before anything is refused. Ctrl-C stops at once.
    signal.signal(signal.SIGTERM, lambda *_: server.drain_and_stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop(grace=settings.server.grace_seconds)


@keys_app.command("generate")
def generate_key(
    name: Annotated[str, typer.Option(help="A name for the key, shown in refusals and logs.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated scopes: ingest, read, admin.")
    ] = "read",
) -> None:
    """Print a new random API key (shown only this once) and its [[auth.keys]] config entry."""
    from infogap.server.transport.auth import SCOPES, hash_api_key

    chosen = list(dict.fromkeys(scope.strip() for scope in scopes.split(",") if scope.strip()))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if not chosen or unknown:
        raise typer.BadParameter(
            f"scopes must be a comma-separated subset of {', '.join(SCOPES)}; got {scopes!r}",
            param_hint="--scopes",
        )
    key = secrets.token_urlsafe(32)
    # Plain echo, not rich: the TOML's brackets would be read as markup.
    typer.echo(f"API key (store it now; the server keeps only its hash):\n\n    {key}\n")
    typer.echo("Add to the server's config file:\n")
    typer.echo("[[auth.keys]]")
    typer.echo(f"name = {json.dumps(name)}")
    typer.echo(f'sha256 = "{hash_api_key(key)}"')
    typer.echo(f"scopes = {json.dumps(chosen)}")
