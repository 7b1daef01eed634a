"""Meta-tests: the plugin API is documented and tested, and the SDK covers the whole API."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from infogap.client import AsyncClient, Client
from infogap.server.config import ExperimentDefinition, load_settings
from infogap.server.core.plugins import hookspecs
from infogap.v1 import (
    admin_service_pb2,
    feedback_service_pb2,
    profile_service_pb2,
    recommend_service_pb2,
)

TESTS = Path(__file__).parent
HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("infogap_")
]
SERVICES = [
    service
    for module in (
        admin_service_pb2,
        feedback_service_pb2,
        profile_service_pb2,
        recommend_service_pb2,
    )
    for service in module.DESCRIPTOR.services_by_name.values()
]
RPCS = [(service.name, method.name) for service in SERVICES for method in service.methods]


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


def test_there_are_rpcs():
    assert len(RPCS) >= 11


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
