"""``infogap experiments ...``: online experiments on a running server, through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from infogap.server.cli.common import DEFAULT_TARGET, Target, connect, console

experiments_app = typer.Typer(help="Online experiments on a running server.", no_args_is_help=True)

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
    from infogap.server.core.experiments.definitions import experiment_from_config
    from infogap.server.transport.convert import variant

    # The same path as a definition in the config file: TOML, definition, domain experiment.
    try:
        parsed = ExperimentDefinition.model_validate(tomllib.loads(definition.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise typer.BadParameter(str(error), param_hint="DEFINITION") from error
    defined = experiment_from_config(parsed)
    window = defined.attribution_window_seconds  # 0: the server's default
    with connect(target) as client:
        experiment = client.create_experiment(
            defined.name,
            [variant(v) for v in defined.variants],
            catalog=defined.catalog,
            description=defined.description,
            attribution_window=timedelta(seconds=window) if window else None,
        )
        if start or parsed.start:
            experiment = client.start_experiment(defined.name)
    console.print(_experiment_line(experiment))


@experiments_app.command("start")
def start_experiment(name: ExperimentName, target: Target = DEFAULT_TARGET) -> None:
    """Starts a draft experiment: its catalog's traffic is split from now on."""
    with connect(target) as client:
        console.print(_experiment_line(client.start_experiment(name)))


@experiments_app.command("stop")
def stop_experiment(name: ExperimentName, target: Target = DEFAULT_TARGET) -> None:
    """Stops a running experiment; its report stays."""
    with connect(target) as client:
        console.print(_experiment_line(client.stop_experiment(name)))


@experiments_app.command("list")
def list_experiments(target: Target = DEFAULT_TARGET) -> None:
    """Every experiment, newest first."""
    with connect(target) as client:
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
    """Per-variant users, impressions, CTR, conversion and revenue with intervals, lift
    against the control, significance and the winner. Intervals are at the level each
    comparison is decided at (the significance level split over the comparisons)."""
    from google.protobuf.json_format import MessageToJson

    from infogap.server.core.experiments.report import level_text
    from infogap.server.evaluation.experiment_report import METRICS, write_experiment_html

    with connect(target) as client:
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
        f"intervals: {level_text(report.confidence_level)} (significance level "
        f"{report.significance_level:g}, split over the comparisons with the control)"
    )
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
