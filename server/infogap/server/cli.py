"""The ``infogap`` command: serve, import, train, recommend, demo, keys."""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infogap.client import Client
from infogap.server import importer
from infogap.server.config import load_settings

app = typer.Typer(help="InfoGap personalization server.", no_args_is_help=True)
import_app = typer.Typer(help="Import CSV files into a running server.", no_args_is_help=True)
app.add_typer(import_app, name="import")
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
experiments_app = typer.Typer(help="Online experiments on a running server.", no_args_is_help=True)
app.add_typer(experiments_app, name="experiments")
console = Console()

DEFAULT_TARGET = "localhost:50051"
BATCH = 1000
Target = Annotated[str, typer.Option(help="Address of the InfoGap server.")]
Catalog = Annotated[str, typer.Option(help="Item catalog.")]


def _client(target: str) -> Client:
    """An SDK client for the commands that talk to a running server; a secured server's key
    and CA come from INFOGAP_API_KEY and INFOGAP_CA_FILE."""
    return Client(
        target,
        api_key=os.environ.get("INFOGAP_API_KEY") or None,
        root_certificates=os.environ.get("INFOGAP_CA_FILE") or None,
    )


def _batches(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _count_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _send(
    path: Path, rows: Iterable[dict[str, Any]], send: Callable[[list], Any], what: str
) -> Any:
    """Sends rows in batches with a progress bar; returns the per-batch responses."""
    responses = []
    with Progress(
        TextColumn(f"[bold]{what}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(what, total=_count_rows(path))
        for batch in _batches(rows):
            responses.append(send(batch))
            progress.advance(task, len(batch))
    return responses


def _attribute_mapping(attributes: str | None, bins: list[str]) -> importer.AttributeMapping:
    parsed_bins = {}
    for spec in bins:
        column, _, edges = spec.partition("=")
        parsed_bins[column] = importer.Bins.parse(edges)
    columns = tuple(a for a in attributes.split(",") if a) if attributes is not None else None
    return importer.AttributeMapping(columns, parsed_bins)


Attributes = Annotated[
    str | None,
    typer.Option(help="Comma-separated columns to keep as attributes (default: all others)."),
]
BinsOption = Annotated[
    list[str],
    typer.Option("--bin", help="Band a numeric column, e.g. age=18,25,35,45,56."),
]


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (0: any free port).")] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow a non-loopback address without API keys or TLS (sets auth.insecure).",
        ),
    ] = False,
) -> None:
    """Run the gRPC server until interrupted."""
    from infogap.server.core.errors import StartupError
    from infogap.server.transport.auth import InsecureListenerError
    from infogap.server.transport.server import InfoGapServer

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {
        key: value
        for key, value in {"data_dir": data_dir, "host": host, "port": port}.items()
        if value is not None
    }
    if insecure:
        overrides["auth"] = {"insecure": True}  # merged into the config file's [auth]
    settings = load_settings(config, **overrides)
    try:
        server = InfoGapServer(settings).start()
    except (InsecureListenerError, StartupError) as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(code=1) from error
    console.print(f"InfoGap serving on [bold]{server.address}[/] (data in {settings.data_dir})")
    stop = lambda *_: server.stop(grace=5.0)  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop(grace=5.0)


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


@import_app.command("users")
def import_users(
    path: Path,
    target: Target = DEFAULT_TARGET,
    id_column: str = "user_id",
    attributes: Attributes = None,
    bins: BinsOption = [],  # noqa: B006 (typer reads the default)
) -> None:
    """Upsert users from a CSV file."""
    rows = importer.read_users(path, id_column, _attribute_mapping(attributes, bins))
    with _client(target) as client:
        responses = _send(path, rows, client.upsert_users, "users")
    console.print(f"{sum(r.upserted_count for r in responses):,} users upserted")


@import_app.command("items")
def import_items(
    path: Path,
    target: Target = DEFAULT_TARGET,
    catalog: Catalog = "default",
    id_column: str = "item_id",
    tags_column: Annotated[str | None, typer.Option(help="Column holding tags.")] = None,
    tags_separator: str = "|",
    attributes: Attributes = None,
    bins: BinsOption = [],  # noqa: B006
) -> None:
    """Upsert items from a CSV file."""
    rows = importer.read_items(
        path, id_column, catalog, _attribute_mapping(attributes, bins), tags_column, tags_separator
    )
    with _client(target) as client:
        responses = _send(path, rows, client.upsert_items, "items")
    console.print(f"{sum(r.upserted_count for r in responses):,} items upserted")


@import_app.command("events")
def import_events(
    path: Path,
    target: Target = DEFAULT_TARGET,
    catalog: Catalog = "default",
    user_column: str = "user_id",
    item_column: str = "item_id",
    event_type: Annotated[str | None, typer.Option("--type", help="Fixed event type.")] = None,
    type_column: Annotated[str | None, typer.Option(help="Column holding the type.")] = None,
    value_column: Annotated[str | None, typer.Option(help="Column holding the value.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Column holding the time.")] = None,
    time_format: Annotated[str, typer.Option(help="'unix' seconds or 'iso' 8601.")] = "unix",
    id_column: Annotated[
        str | None, typer.Option(help="Column holding event ids (default: derived).")
    ] = None,
) -> None:
    """Record events from a CSV file (idempotent: a second import stores nothing new)."""
    rows = importer.read_events(
        path,
        user_column=user_column,
        item_column=item_column,
        catalog=catalog,
        event_type=event_type,
        type_column=type_column,
        value_column=value_column,
        time_column=time_column,
        time_format=time_format,
        id_column=id_column,
    )
    with _client(target) as client:
        responses = _send(path, rows, client.record, "events")
    stored = sum(r.stored_count for r in responses)
    duplicates = sum(r.duplicate_count for r in responses)
    console.print(f"{stored:,} events stored, {duplicates:,} duplicates skipped")


@app.command()
def train(target: Target = DEFAULT_TARGET, catalog: Catalog = "default") -> None:
    """Train the models of a catalog and start serving them."""
    with _client(target) as client, console.status(f"training {catalog}..."):
        response = client.train(catalog)
    table = Table("strategy", "version", "users", "items", "events", "fit seconds")
    for model in response.models:
        table.add_row(
            model.strategy,
            model.version,
            f"{model.user_count:,}",
            f"{model.item_count:,}",
            f"{model.event_count:,}",
            f"{model.training_seconds:.2f}",
        )
    console.print(table)
    console.print(f"trained in {response.total_seconds:.2f} s")


@app.command()
def recommend(
    user_id: str,
    target: Target = DEFAULT_TARGET,
    catalog: Catalog = "default",
    count: int = 10,
) -> None:
    """Print recommendations for a user."""
    with _client(target) as client:
        response = client.recommend(user_id, catalog=catalog, count=count)
    table = Table("#", "item", "score", "reason", title=f"{user_id}: {response.strategy}")
    for rank, item in enumerate(response.items, start=1):
        table.add_row(str(rank), item.item_id, f"{item.score:.3f}", item.reason)
    console.print(table)


@app.command()
def tune(
    data_dir: Annotated[Path, typer.Option(help="Data directory of a stopped server.")],
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    catalog: Catalog = "default",
    trials: Annotated[int, typer.Option(help="Parameter sets to try besides the current.")] = 12,
    validation_fraction: float = 0.2,
    seed: int = 42,
) -> None:
    """Search LightFM hyper-parameters on a validation split of the stored events."""
    from infogap.plugins.lightfm_hybrid import LightFMConfig
    from infogap.plugins.lightfm_tuning import SEARCH_SPACE
    from infogap.plugins.lightfm_tuning import tune as run_tuning
    from infogap.server.core.models.holdout import evaluate, split_for_validation
    from infogap.server.core.models.training_data import load_training_data
    from infogap.server.core.plugins.protocols import TrainingContext
    from infogap.server.core.store import Store

    settings = load_settings(config, data_dir=data_dir)
    store = Store(data_dir)
    try:
        data = load_training_data(store, catalog, settings)
        train_part, split = split_for_validation(
            data, validation_fraction, seed, settings.lifecycle.max_validation_users
        )
        context = TrainingContext(catalog, lambda aggregate: aggregate)
        attributes = store.user_attributes(split.user_ids)
        columns = list(SEARCH_SPACE)
        table = Table("ndcg@10", "fit s", *columns, title=f"LightFM on {catalog!r}")
        with console.status("tuning...") as status:

            def report(trial):
                status.update(f"last: ndcg@10 {trial.ndcg_at_10:.4f} with {trial.parameters}")

            def ndcg_at_10(model):
                return evaluate(
                    [model], train_part.item_ids, split, lambda u: attributes.get(u, {})
                )

            results = run_tuning(
                train_part,
                ndcg_at_10,
                LightFMConfig.model_validate(settings.lightfm),
                settings.features,
                context,
                trials,
                seed,
                report,
            )
    finally:
        store.close()
    for trial in results:
        table.add_row(
            f"{trial.ndcg_at_10:.4f}",
            f"{trial.fit_seconds:.1f}",
            *(str(trial.parameters[c]) for c in columns),
        )
    console.print(table)
    best = results[0].parameters
    lines = ["[lightfm]"] + [f"{key} = {value!r}".replace("'", '"') for key, value in best.items()]
    console.print("Best, as config:\n" + "\n".join(lines), markup=False, highlight=False)


@app.command()
def demo(
    dataset: Annotated[Path, typer.Option(help="Folder with MovieLens events/items/users.csv.")],
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: a new temporary one).")
    ] = None,
) -> None:
    """Load MovieLens 100K, train, serve, and show recommendations and profiles via the SDK."""
    from infogap.server.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="infogap-demo-") as scratch:
        run_demo(dataset, data_dir or Path(scratch), console)


@app.command("eval")
def evaluate(
    dataset: Annotated[
        Path,
        typer.Option(help="Folder with events.csv, items.csv and users.csv (MovieLens-style)."),
    ],
    output: Annotated[Path, typer.Option(help="Folder for report.json and report.html.")] = Path(
        "eval-report"
    ),
    k: Annotated[int, typer.Option(min=1, help="Cut-off of the metrics.")] = 10,
    split: Annotated[
        str, typer.Option(help="random, temporal, cold-users or cold-items.")
    ] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the split and the bootstrap.")] = 42,
    config: Annotated[Path | None, typer.Option(help="TOML config file of the servers.")] = None,
    max_users: Annotated[
        int | None,
        typer.Option(min=1, help="Evaluate a random sample (from --seed) of this many users."),
    ] = None,
    privacy: Annotated[
        bool | None,
        typer.Option(
            "--privacy/--no-privacy",
            help="Add the epsilon-vs-quality curve of differentially private popularity "
            "(default: when the differential_privacy plugin is available).",
        ),
    ] = None,
) -> None:
    """Offline evaluation: candidates side by side through real in-process servers."""
    from infogap.server.evaluation.privacy import PLUGIN, PrivacyCurve, privacy_plugin_available
    from infogap.server.evaluation.report import write_report
    from infogap.server.evaluation.runner import METRICS, run_evaluation
    from infogap.server.evaluation.splits import SPLITS

    if split not in SPLITS:
        raise typer.BadParameter(f"one of {', '.join(SPLITS)}", param_hint="--split")
    available = privacy_plugin_available(load_settings(config))
    if privacy and not available:
        raise typer.BadParameter(f"the {PLUGIN} plugin is not available", param_hint="--privacy")
    report = run_evaluation(
        dataset,
        k=k,
        split_kind=split,
        seed=seed,
        config=config,
        max_users=max_users,
        privacy=PrivacyCurve() if available and privacy is not False else None,
        progress=lambda message: console.print(f"[dim]{escape(message)}[/]"),
    )
    json_path, html_path = write_report(report, output)
    short = {
        "precision": "P",
        "recall": "R",
        "hit_rate": "HR",
        "coverage": "cov",
        "diversity": "ILD",
        "novelty": "pop.rank",
    }
    table = Table(title=f"split {split}, k = {k} (CIs and plots in the report)")
    table.add_column("candidate", min_width=18)
    for name in METRICS:
        table.add_column(short.get(name, name), justify="right")
    for candidate in report["candidates"].values():
        table.add_row(
            candidate["label"].replace("LightFM, ", ""),
            *(
                f"{candidate['metrics'][name]['value']:.{1 if name == 'novelty' else 3}f}"
                for name in METRICS
            ),
        )
    console.print(table)
    if "privacy" in report:
        console.print(_privacy_table(report["privacy"]))
    console.print(f"wrote {json_path} and {html_path} in {report['seconds']:.0f} s")


def _privacy_table(privacy: dict[str, Any]) -> Table:
    k = privacy["k"]
    table = Table(
        title=f"differentially private popularity, {privacy['users']:,} users, "
        f"{privacy['seconds']:.0f} s"
    )
    for column in ("release", f"NDCG@{k}", f"Recall@{k}", "draws"):
        table.add_column(column, justify="left" if column == "release" else "right")
    rows = [
        ("no privacy", privacy["no_privacy"]),
        ("bounding only", privacy["bounding_only"]),
    ] + [(f"ε = {release['epsilon']:g}", release) for release in privacy["releases"]]
    for label, figures in rows:
        table.add_row(
            label,
            *(
                f"{figures[name]['mean']:.4f} ± {figures[name]['std']:.4f}"
                for name in ("ndcg", "recall")
            ),
            str(figures["draws"]),
        )
    return table


# -- experiments ------------------------------------------------------------------------------

ExperimentName = Annotated[str, typer.Argument(help="The experiment's name.")]


def _experiment_line(experiment: Any) -> str:
    from infogap.server.evaluation.experiment_report import status_name

    variants = ", ".join(f"{v.name} {v.share:.0%}" for v in experiment.variants)
    return escape(
        f"{experiment.name} [{status_name(experiment)}] on {experiment.catalog}: {variants}"
    )


@experiments_app.command("create")
def create_experiment(
    definition: Annotated[
        Path,
        typer.Argument(
            help="TOML file with one experiment, as in [[experiments.definitions]] of the config: "
            "name, catalog, description, attribution_window_hours and [[variants]] (name, share, "
            "strategies, blend, model_version, excluded_rerankers)."
        ),
    ],
    start: Annotated[bool, typer.Option(help="Start it right away.")] = False,
    target: Target = DEFAULT_TARGET,
) -> None:
    """Defines an experiment (as a draft unless --start)."""
    import tomllib
    from datetime import timedelta

    from pydantic import ValidationError

    from infogap.server.config import ExperimentDefinition

    try:
        parsed = ExperimentDefinition.model_validate(tomllib.loads(definition.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise typer.BadParameter(str(error), param_hint="DEFINITION") from error
    window = parsed.attribution_window_hours
    with _client(target) as client:
        experiment = client.create_experiment(
            parsed.name,
            [v.model_dump() for v in parsed.variants],
            catalog=parsed.catalog,
            description=parsed.description,
            attribution_window=timedelta(hours=window) if window else None,
        )
        if start or parsed.start:
            experiment = client.start_experiment(parsed.name)
    console.print(_experiment_line(experiment))


@experiments_app.command("start")
def start_experiment(name: ExperimentName, target: Target = DEFAULT_TARGET) -> None:
    """Starts a draft experiment: its catalog's traffic is split from now on."""
    with _client(target) as client:
        console.print(_experiment_line(client.start_experiment(name)))


@experiments_app.command("stop")
def stop_experiment(name: ExperimentName, target: Target = DEFAULT_TARGET) -> None:
    """Stops a running experiment; its report stays."""
    with _client(target) as client:
        console.print(_experiment_line(client.stop_experiment(name)))


@experiments_app.command("list")
def list_experiments(target: Target = DEFAULT_TARGET) -> None:
    """Every experiment, newest first."""
    with _client(target) as client:
        for experiment in client.list_experiments():
            console.print(_experiment_line(experiment))


@experiments_app.command("report")
def experiment_report(
    name: ExperimentName,
    html: Annotated[Path | None, typer.Option(help="Also write the report as HTML here.")] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    target: Target = DEFAULT_TARGET,
) -> None:
    """Per-variant users, impressions, CTR, conversion and revenue with 95% intervals, lift
    against the control, significance and the winner."""
    from google.protobuf.json_format import MessageToJson

    from infogap.server.evaluation.experiment_report import METRICS, write_experiment_html

    with _client(target) as client:
        report = client.experiment_report(name)
    table = Table(title=_experiment_line(report.experiment))
    for column in ("variant", "users", "impressions", *(label for label, _, _ in METRICS.values())):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant in report.variants:
        cells = []
        for metric, (_, _, form) in METRICS.items():
            estimate = getattr(variant, metric)
            low, high = form.format(estimate.ci_low), form.format(estimate.ci_high)
            text = escape(f"{form.format(estimate.value)} [{low}, {high}]")
            comparison = next((c for c in variant.comparisons if c.metric == metric), None)
            if comparison is not None:
                mark = " *" if comparison.significant else ""
                text += f"\nlift {comparison.relative_lift:+.1%}, p={comparison.p_value:.2g}{mark}"
            cells.append(text)
        table.add_row(variant.variant, f"{variant.users:,}", f"{variant.impressions:,}", *cells)
    console.print(table)
    console.print(
        f"sample ratio check: p = {report.sample_ratio_p_value:.2g}"
        + (" [bold red]MISMATCH[/]" if report.sample_ratio_mismatch else " (ok)")
    )
    console.print(f"[bold]{escape(report.conclusion)}[/]")
    if html is not None:
        console.print(f"HTML report: {write_experiment_html(report, html)}")
    if json_file is not None:
        json_file.write_text(MessageToJson(report), encoding="utf-8")
        console.print(f"JSON report: {json_file}")
