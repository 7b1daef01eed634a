"""The plugin API: one public module, each plugin's own validated config, hooks that never see
the server settings, and a privacy guard fixed last in the aggregate pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import BaseModel, Field

import infogap.server.plugin as plugin_api
from infogap.server.config import Settings
from infogap.server.core.errors import StartupError
from infogap.server.core.plugins.host import PluginHost
from infogap.server.core.plugins.protocols import padded, release_through
from infogap.server.core.privacy.ledger import PrivacyLedger
from infogap.server.core.store import DuckDBStore
from infogap.server.plugin import (
    Aggregate,
    Contribution,
    ExplainingModel,
    FeatureSettings,
    ForgetfulModel,
    ItemVectorModel,
    PrivacySettings,
    UserQuery,
    hookimpl,
)

from ..conftest import REPO, make_settings

PLUGIN_SOURCES = [
    *sorted((REPO / "plugins" / "infogap" / "plugins").glob("*.py")),
    *sorted((REPO / "docs" / "plugin-example").rglob("*.py")),
]


def _server_imports(path: Path) -> set[str]:
    """Modules under infogap.server that ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        found.update(name for name in names if name.startswith("infogap.server"))
    return found


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: p.name)
def test_plugins_import_only_the_public_plugin_module(path):
    assert _server_imports(path) <= {"infogap.server.plugin", "infogap.server.plugin.testing"}


def test_the_public_module_exports_what_it_lists_and_needs_no_pytest():
    assert all(hasattr(plugin_api, name) for name in plugin_api.__all__)
    assert "pytest" not in _server_imports(REPO / "server/infogap/server/plugin/__init__.py")
    source = (REPO / "server/infogap/server/plugin/__init__.py").read_text()
    assert "import pytest" not in source


class LevelConfig(BaseModel):
    level: int = Field(default=1, ge=1)


class Recorder:
    """A plugin with a config model that records what every register hook is handed."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, object]] = {}

    @hookimpl
    def infogap_plugin_config_model(self):
        return LevelConfig

    @hookimpl
    def infogap_register_models(self, register, config, features):
        self.calls["models"] = {"config": config, "features": features}

    @hookimpl
    def infogap_register_rerankers(self, register, config):
        self.calls["rerankers"] = {"config": config}

    @hookimpl
    def infogap_register_aggregate_guards(self, register, config):
        self.calls["aggregate_guards"] = {"config": config}

    @hookimpl
    def infogap_register_privacy_guard(self, register, config, policy, ledger):
        self.calls["privacy_guard"] = {"config": config, "policy": policy, "ledger": ledger}

    @hookimpl
    def infogap_register_profile_contributors(self, register, config):
        self.calls["profile_contributors"] = {"config": config}


@pytest.fixture
def ledger(tmp_path):
    store = DuckDBStore(tmp_path / "data")
    yield PrivacyLedger(store, PrivacySettings(enabled=True))
    store.close()


def test_hooks_get_the_plugins_validated_config_and_no_settings(tmp_path, ledger):
    recorder = Recorder()
    settings = Settings(
        data_dir=tmp_path,
        plugin_config={"recorder": {"level": "3"}},
        features={"user_attributes": ["age"]},
    )
    PluginHost(settings, [("recorder", recorder)]).collect_registrations(ledger)
    assert set(recorder.calls) == {
        "models",
        "rerankers",
        "aggregate_guards",
        "privacy_guard",
        "profile_contributors",
    }
    for arguments in recorder.calls.values():
        assert arguments["config"] == LevelConfig(level=3)
        assert not any(isinstance(value, Settings) for value in arguments.values())
    assert recorder.calls["models"]["features"] == FeatureSettings(user_attributes=["age"])
    assert recorder.calls["privacy_guard"]["policy"] is settings.privacy
    assert recorder.calls["privacy_guard"]["ledger"] is ledger


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lightfm": {"epochs": 0}}, r"plugin 'lightfm' has invalid options: epochs: .*greater"),
        ({"lightfm": {"loss": "hinge"}}, r"plugin 'lightfm' .*loss: .*one of warp"),
        ({"lightfm": {"epoch": 5}}, r"plugin 'lightfm' .*epoch: Extra inputs"),
        ({"popularity": {"min_segment_users": 0}}, r"plugin 'popularity' .*min_segment_users"),
        ({"plugin_config": {"recorder": {"level": 0}}}, r"plugin 'recorder' .*level: .*greater"),
    ],
)
def test_a_bad_option_fails_start_naming_plugin_field_and_reason(tmp_path, overrides, message):
    with pytest.raises(StartupError, match=message):
        PluginHost(make_settings(tmp_path, **overrides), [("recorder", Recorder())])


def test_a_plugin_without_a_config_model_takes_no_options(tmp_path):
    class Bare:
        @hookimpl
        def infogap_register_rerankers(self, register):
            pass

    with pytest.raises(StartupError, match=r"plugin 'bare' takes no options, .*sets colour"):
        PluginHost(
            Settings(data_dir=tmp_path, plugin_config={"bare": {"colour": "x"}}), [("bare", Bare())]
        )
    PluginHost(Settings(data_dir=tmp_path), [("bare", Bare())])  # and starts without


def test_a_bad_option_fails_the_real_server_start(start_server):
    with pytest.raises(StartupError, match=r"plugin 'lightfm' .*no_components"):
        start_server(lightfm={"no_components": -1})


def test_feature_keys_under_lightfm_still_select_features():
    settings = Settings(lightfm={"user_attributes": ["segment"], "epochs": 3})
    assert settings.features.user_attributes == ["segment"]
    assert settings.lightfm == {"epochs": 3}
    explicit = Settings(lightfm={"user_attributes": ["old"]}, features={"user_attributes": ["new"]})
    assert explicit.features.user_attributes == ["new"]


class Stage:
    def __init__(self, name: str, log: list[str], order: int = 0) -> None:
        self.name, self.order, self._log = name, order, log

    def release(self, aggregate: Aggregate) -> Aggregate:
        self._log.append(self.name)
        return aggregate


def _aggregate() -> Aggregate:
    contributions = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]]))
    return Aggregate(
        "default",
        "item_popularity",
        np.array(["a", "b"], dtype=object),
        contributions,
        np.array([2.0, 1.0]),
    )


def test_the_privacy_guard_runs_last_whatever_the_orders(tmp_path, ledger):
    log: list[str] = []

    class Guards:
        @hookimpl
        def infogap_register_privacy_guard(self, register):
            register(Stage("privacy", log))

        @hookimpl
        def infogap_register_aggregate_guards(self, register):
            register(Stage("very-late", log, order=10**9))
            register(Stage("early", log, order=-5))

    settings = Settings(data_dir=tmp_path, plugins={"disabled": ["differential_privacy"]})
    registrations = PluginHost(settings, [("guards", Guards())]).collect_registrations(ledger)
    release_through(registrations.aggregate_stages())(_aggregate())
    assert log == ["early", "very-late", "privacy"]


def test_ordinary_guards_see_the_figures_before_differential_privacy_spends(tmp_path, ledger):
    seen: list[tuple[list[float], float]] = []

    class Late:
        name, order = "late", 10**9

        def release(self, aggregate: Aggregate) -> Aggregate:
            seen.append((aggregate.values.tolist(), ledger.remaining("default")))
            return aggregate

    class Plugin:
        @hookimpl
        def infogap_register_aggregate_guards(self, register):
            register(Late())

    settings = Settings(data_dir=tmp_path, privacy={"enabled": True})
    registrations = PluginHost(settings, [("late", Plugin())]).collect_registrations(ledger)
    assert registrations.privacy_guard.name == "differential_privacy"
    # What ListPlugins shows of it.
    assert registrations.provided_by["differential_privacy"] == [
        "privacy_guard:differential_privacy"
    ]
    released = release_through(registrations.aggregate_stages())(_aggregate())
    # The late guard saw the exact counts and a budget not yet spent; the noise came after.
    assert seen == [([2.0, 1.0], 1.0)]
    assert ledger.remaining("default") == pytest.approx(0.9)
    assert released.values.dtype == np.float64


def test_at_most_one_privacy_guard(tmp_path, ledger):
    class Second:
        @hookimpl
        def infogap_register_privacy_guard(self, register):
            register(Stage("second", []))

    settings = Settings(data_dir=tmp_path, privacy={"enabled": True})
    host = PluginHost(settings, [("second", Second())])
    with pytest.raises(
        StartupError,
        match=r"'second' registers the privacy guard 'second', but "
        r"'differential_privacy' registered 'differential_privacy' already",
    ):
        host.collect_registrations(ledger)


class Unforgetful:
    strategy, parameters, metrics, user_count = "f", {}, {}, 1

    def score_user(self, user):
        return None

    def similar_items(self, item_index):
        return None

    def save(self, directory):
        pass


class Forgetful(Unforgetful):
    def without_user(self, user_id):
        return self


def test_padding_keeps_the_forgetting_capability_and_adds_none():
    assert isinstance(padded(Forgetful(), 3, 2), ForgetfulModel)
    assert not isinstance(padded(Unforgetful(), 3, 2), ForgetfulModel)


class Explaining(Unforgetful):
    explanation_lead = "liked by"

    def explain(self, user, item_positions, limit):
        return [[Contribution(float(p), item_position=0)] for p in item_positions]

    def item_vectors(self, item_positions):
        return np.ones((len(item_positions), 2), dtype=np.float32) * item_positions[:, None]


def test_padding_keeps_explanations_and_vectors_for_the_items_the_model_knows():
    wrapped = padded(Explaining(), 3, 2)
    assert isinstance(wrapped, ExplainingModel) and isinstance(wrapped, ItemVectorModel)
    assert not isinstance(padded(Unforgetful(), 3, 2), ExplainingModel)
    assert not isinstance(padded(Unforgetful(), 3, 2), ItemVectorModel)
    assert wrapped.explanation_lead == "liked by"
    positions = np.array([4, 2, 3, 1])
    explained = wrapped.explain(UserQuery("u", lambda _: {}), positions, 1)
    assert explained == [[], [Contribution(2.0, item_position=0)], [], [Contribution(1.0, 0)]]
    assert wrapped.item_vectors(positions).tolist() == [[0, 0], [2, 2], [0, 0], [1, 1]]


def test_options_from_the_environment_are_validated_by_the_plugin(tmp_path, monkeypatch, ledger):
    monkeypatch.setenv("INFOGAP_PLUGIN_CONFIG__RECORDER__LEVEL", "4")
    recorder = Recorder()
    PluginHost(Settings(data_dir=tmp_path), [("recorder", recorder)]).collect_registrations(ledger)
    assert recorder.calls["models"]["config"] == LevelConfig(level=4)
    monkeypatch.setenv("INFOGAP_LIGHTFM__EPOCHS", "0")
    with pytest.raises(StartupError, match=r"plugin 'lightfm' .*epochs"):
        PluginHost(Settings(data_dir=tmp_path))
