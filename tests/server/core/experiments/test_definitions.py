"""Definitions: one path from TOML to the domain experiment, the checks, and the lifecycle
draft -> running -> stopped against a real DuckDB store (reopened, as after a restart)."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from infogap.server.config import ExperimentDefinition, Settings, VariantSettings
from infogap.server.core.domain import Experiment, ExperimentStatus, Variant
from infogap.server.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from infogap.server.core.experiments.definitions import (
    Definitions,
    check_can_start,
    check_can_stop,
    check_definition,
    experiment_from_config,
)
from infogap.server.core.store import DuckDBStore, Store

DEFINITION = """
name = "home-v2"
catalog = "Products"
description = "popularity against the personal model"
attribution_window_hours = 2

[[variants]]
name = "control"
share = 0.5

[[variants]]
name = "popular"
share = 0.4
strategies = ["popularity"]
blend = false
excluded_rerankers = ["diversity"]
"""


def test_a_toml_definition_becomes_the_domain_experiment():
    parsed = ExperimentDefinition.model_validate(tomllib.loads(DEFINITION))
    assert experiment_from_config(parsed) == Experiment(
        name="home-v2",
        catalog="Products",
        description="popularity against the personal model",
        variants=(
            Variant("control", 0.5),
            Variant("popular", 0.4, ("popularity",), False, "", ("diversity",)),
        ),
        attribution_window_seconds=7200.0,
    )
    without_window = ExperimentDefinition(name="x", variants=parsed.variants)
    assert experiment_from_config(without_window).attribution_window_seconds == 0  # the default


def test_the_config_variant_has_exactly_the_domain_variants_fields_and_defaults():
    """The config's model only validates TOML: it may not drift from the one Variant."""
    domain = {f.name: f.default for f in dataclasses.fields(Variant)}
    config = {
        name: spec.get_default(call_default_factory=True)
        for name, spec in VariantSettings.model_fields.items()
    }
    assert config.keys() == domain.keys()
    for name, default in domain.items():
        if default is not dataclasses.MISSING:
            assert type(default)(config[name]) == default, name


def settings(**experiments: object) -> Settings:
    return Settings(experiments=experiments)


def test_check_definition_names_the_bad_field():
    good = Experiment("e", "", (Variant("a", 0.5), Variant("b", 0.5)), "", 3600.0)
    # An empty catalog is the default one.
    assert check_definition(good, {"popularity"}, set(), settings()).catalog == "default"
    cases = {
        "experiment.variants": (Variant("a", 0.5),),
        "experiment.variants[1].share": (Variant("a", 0.5), Variant("b", 0.0)),
        "experiment.variants[1].strategies[0]": (Variant("a", 0.5), Variant("b", 0.5, ("x",))),
        "experiment.variants[0].excluded_rerankers[0]": (
            Variant("a", 0.5, excluded_rerankers=("nope",)),
            Variant("b", 0.5),
        ),
    }
    for field, variants in cases.items():
        with pytest.raises(InvalidArgument) as raised:
            check_definition(
                dataclasses.replace(good, variants=variants), {"popularity"}, set(), settings()
            )
        assert raised.value.violations[0].field == field
    with pytest.raises(InvalidArgument, match=r"add up to 1\.1"):
        check_definition(
            dataclasses.replace(good, variants=(Variant("a", 0.6), Variant("b", 0.5))),
            set(),
            set(),
            settings(),
        )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = DuckDBStore(tmp_path)
    yield store
    store.close()


def definitions(store: Store) -> Definitions:
    return Definitions(store, settings(attribution_window_hours=3), {"popularity"}, set())


def test_the_lifecycle_moves_forward_only_and_the_store_keeps_each_status(tmp_path: Path):
    store = DuckDBStore(tmp_path)
    experiments = definitions(store)
    draft = experiments.create(
        Experiment("ab", "default", (Variant("a", 0.5), Variant("b", 0.5, ("popularity",))))
    )
    assert draft.status is ExperimentStatus.DRAFT and draft.created_at is not None
    assert draft.attribution_window_seconds == 3 * 3600  # 0 took the configured default
    assert experiments.find("ab") == draft
    with pytest.raises(AlreadyExists):
        experiments.create(draft)
    with pytest.raises(FailedPrecondition, match="is draft, not running"):
        check_can_stop(draft)

    running = experiments.move(draft, ExperimentStatus.RUNNING)
    assert running.status is ExperimentStatus.RUNNING and running.started_at is not None
    assert experiments.find("ab") == running
    with pytest.raises(FailedPrecondition, match="only a draft can start"):
        check_can_start(running)
    with pytest.raises(FailedPrecondition, match="changed while starting"):
        experiments.move(draft, ExperimentStatus.RUNNING)  # a second start lost the race

    stopped = experiments.move(running, ExperimentStatus.STOPPED)
    assert stopped.status is ExperimentStatus.STOPPED and stopped.stopped_at is not None
    with pytest.raises(FailedPrecondition, match="is stopped; only a draft can start"):
        check_can_start(stopped)
    store.close()

    # The stored text is the enum's value, so files written before the enum still read.
    reopened = DuckDBStore(tmp_path)
    try:
        (row,) = reopened.cursor().execute("SELECT status FROM experiments").fetchall()
        assert row == ("stopped",)
        assert definitions(reopened).find("ab") == stopped
    finally:
        reopened.close()


def test_a_pinned_model_version_must_exist_and_unknown_names_are_not_found(store: Store):
    experiments = definitions(store)
    with pytest.raises(InvalidArgument) as raised:
        experiments.create(
            Experiment("ab", "default", (Variant("a", 0.5), Variant("b", 0.5, model_version="v9")))
        )
    assert raised.value.violations[0].field == "experiment.variants[1].model_version"
    assert experiments.all() == []
    with pytest.raises(NotFound):
        experiments.find("missing")
