"""Offline commands: they run in this process on files, no server to talk to. ``eval`` compares
candidates on a data set through throwaway in-process servers; ``tune`` searches LightFM's
hyper-parameters on a stopped server's data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from infogap.server.cli.common import Catalog, console
from infogap.server.config import load_settings


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
    from infogap.server.core.store import DuckDBStore

    settings = load_settings(config, data_dir=data_dir)
    store = DuckDBStore(data_dir)
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
    references = list(report.get("references", {}).values())
    for candidate in list(report["candidates"].values()) + references:
        table.add_row(
            candidate["label"].replace("LightFM, ", ""),
            *(
                f"{candidate['metrics'][name]['value']:.{1 if name == 'novelty' else 3}f}"
                for name in METRICS
            ),
        )
    console.print(table)
    if references:
        console.print(
            "Reference rows: strong baselines fit outside the server on the same training "
            "positives; Train s: "
            + ", ".join(
                f"{c['label'].split(': ', 1)[-1]} {c['train_seconds']:.1f}" for c in references
            )
        )
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
