"""Meta-tests: the plugin API is documented and tested, the SDK and the fuzz tests cover the
whole API, and no hand-written module grows past 500 lines."""

from __future__ import annotations

import inspect
import re
import subprocess
import tomllib
from pathlib import Path

import pluggy
import pytest

from infogap.client import AsyncClient, Client
from infogap.server.config import ExperimentDefinition, load_settings
from infogap.server.core.plugins import hookspecs

from . import rpcs, strategies
from .e2e import test_fuzz

TESTS = Path(__file__).parent
REPO = TESTS.parent
HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("infogap_")
]
RPCS = [(method.containing_service.name, method.name) for method in rpcs.methods()]


PLUGIN_DOCS = TESTS.parent / "docs" / "plugins.md"


def _reference_signature(hook: str) -> str:
    """The hook's signature as docs/plugins.md must show it, annotations unquoted."""
    return hook + str(inspect.signature(getattr(hookspecs, hook))).replace("'", "")


def test_the_hook_reference_documents_exactly_the_specified_hooks():
    documented = re.findall(r"^### `(infogap_\w+)`$", PLUGIN_DOCS.read_text(), flags=re.MULTILINE)
    assert HOOKS and sorted(documented) == sorted(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook):
    assert f"```python\n{_reference_signature(hook)}\n```" in PLUGIN_DOCS.read_text()


def test_the_hooks_are_exactly_the_hookspecs():
    """The hooks the meta-tests check are the ones pluggy registers from the hookspecs."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    assert set(HOOKS) == {name for name in vars(manager.hook) if not name.startswith("_")}


def test_the_rpcs_are_exactly_those_of_the_protos():
    """Every ``rpc`` of protos/ is in the generated descriptors, once, and nothing else is."""
    declared = [
        name
        for proto in (REPO / "protos").rglob("*.proto")
        for name in re.findall(r"^\s*rpc\s+(\w+)\s*\(", proto.read_text(), flags=re.MULTILINE)
    ]
    names = [rpc for _, rpc in RPCS]
    assert sorted(names) == sorted(declared)
    assert len(set(names)) == len(names) == len(rpcs.by_name())  # bare names are unique


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_documents_every_parameter(hook):
    function = getattr(hookspecs, hook)
    doc = inspect.getdoc(function) or ""
    for parameter in inspect.signature(function).parameters:
        assert f":param {parameter}:" in doc, f"{hook} does not document {parameter}"
    assert ":return:" in doc and "versionadded" in doc
    # Hooks whose arguments changed in 0.3 say so.
    if "config" in inspect.signature(function).parameters and "versionadded:: 0.3" not in doc:
        assert "versionchanged:: 0.3" in doc, f"{hook} lacks its 0.3 change"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_in_a_test(hook):
    """Some test exercises a plugin implementing the hook (the example plugin counts)."""
    example = TESTS.parent / "docs" / "plugin-example"
    sources = [p.read_text() for p in [*TESTS.rglob("test_*.py"), *example.rglob("*.py")]]
    assert any(f"def {hook}(" in source for source in sources)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# RPC name -> SDK method name where the SDK uses a shorter, friendlier one.
SDK_NAMES = {
    "RecordEvents": "record",
    "GetProfile": "profile",
    "GetModelInfo": "model_info",
    "GetProfiles": "profiles",
    "GetSegmentMembers": "segment_members",
    "GetPrivacyBudget": "privacy_budget",
    "GetExperimentReport": "experiment_report",
}


@pytest.mark.parametrize(("service", "rpc"), RPCS)
def test_every_rpc_has_an_sdk_method(service, rpc):
    name = SDK_NAMES.get(rpc, _snake(rpc))
    assert callable(getattr(Client, name, None)), f"Client has no {name} for {service}.{rpc}"
    assert inspect.iscoroutinefunction(getattr(AsyncClient, name, None)), f"AsyncClient.{name}"


def _public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, callable) if not name.startswith("_")}


def test_both_clients_have_the_same_methods_one_per_rpc_plus_health_and_close():
    expected = {SDK_NAMES.get(rpc, _snake(rpc)) for _, rpc in RPCS}
    # iter_segment_members pages through GetSegmentMembers; health calls the standard
    # gRPC health service.
    extras = {"close", "health", "iter_segment_members"}
    assert _public_methods(Client) == _public_methods(AsyncClient) == expected | extras
    assert set(SDK_NAMES) <= {rpc for _, rpc in RPCS}, "SDK_NAMES names an RPC that is gone"


def test_every_rpc_is_fuzzed():
    """The fuzz test runs over exactly the RPCs of the descriptors: dropping one fails."""
    (mark,) = [
        m
        for m in test_fuzz.test_generated_requests_never_fail_internally.pytestmark
        if m.name == "parametrize"
    ]
    assert mark.args[0] == "rpc"
    assert sorted(mark.args[1]) == sorted(rpc for _, rpc in RPCS)
    # The per-RPC tables name RPCs that exist (a renamed RPC would silently lose its strategy).
    assert set(strategies.DOMAIN) <= set(mark.args[1])
    assert set(test_fuzz.EXAMPLES_SHARE) <= set(mark.args[1])


MAX_LINES = 500
GENERATED_DIRS = ("client_sdk/src/infogap/v1/", "server/infogap/server/transport/http/generated/")


def test_no_hand_written_module_is_over_500_lines():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    hand_written = [p for p in tracked if not p.startswith(GENERATED_DIRS)]
    lengths = {p: len((REPO / p).read_text(encoding="utf-8").splitlines()) for p in hand_written}
    too_long = {p: n for p, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_the_readme_examples_of_config_files_are_valid(tmp_path):
    """The configuration example and the experiment definition in README load as they are."""
    readme = (TESTS.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    config = next(b for b in blocks if b.startswith("data_dir"))
    path = tmp_path / "infogap.toml"
    path.write_text(config)
    settings = load_settings(path)
    assert settings.experiments.definitions[0].name == "home-a-a"
    definition = next(b for b in blocks if 'name = "lightfm-vs-popularity"' in b)
    # Indented inside a list item in README.
    parsed = tomllib.loads("\n".join(line.removeprefix("   ") for line in definition.splitlines()))
    assert ExperimentDefinition.model_validate(parsed).variants[1].blend is False
