"""The model plugin written out in docs/plugins.md works as printed: it passes the kit."""

from __future__ import annotations

import re
import types

from infogap.server.plugin.testing import ModelConformance

from ..conftest import REPO


def _documented_plugin() -> types.ModuleType:
    page = (REPO / "docs" / "plugins.md").read_text()
    source = next(
        block
        for block in re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
        if block.startswith("# my_package/plugin.py")
    )
    module = types.ModuleType("my_package_plugin")
    exec(compile(source, "docs/plugins.md", "exec"), module.__dict__)
    return module


PLUGIN = _documented_plugin()


class TestDocumentedPluginConformance(ModelConformance):
    folds_in = True

    def make_trainer(self):
        return PLUGIN.RecentTrainer(PLUGIN.RecentConfig())


def test_the_documented_plugin_names_its_config_model():
    assert PLUGIN.infogap_plugin_config_model() is PLUGIN.RecentConfig
