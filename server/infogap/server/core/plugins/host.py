"""Finds, loads and queries plugins with pluggy.

Built-in plugins (``plugins/``) and third-party ones are both published in the ``infogap``
entry-point group and loaded the same way; the built-ins are those of the ``infogap``
distribution itself. ``INFOGAP_DISABLE_PLUGIN_AUTOLOAD=1`` (or ``plugins.autoload = false``) keeps
third-party plugins out; ``plugins.disabled`` names plugins not to load at all.
``INFOGAP_TRACE_PLUGINS=1`` logs every hook call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from infogap.server.config import Settings
from infogap.server.core.domain import PluginInfo
from infogap.server.core.plugins import hookspecs
from infogap.server.core.plugins.protocols import Registrations
from infogap.server.core.privacy.ledger import PrivacyLedger

ENTRY_POINT_GROUP = "infogap"
BUILTIN_DISTRIBUTION = "infogap"
BUILTIN_SOURCE = "builtin"  # what ListPlugins says of the built-in plugins' origin
AUTOLOAD_OFF_ENV = "INFOGAP_DISABLE_PLUGIN_AUTOLOAD"
TRACE_ENV = "INFOGAP_TRACE_PLUGINS"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Found:
    name: str
    source: str
    enabled: bool


class PluginHost:
    """Owns the pluggy ``PluginManager`` of one server."""

    def __init__(self, settings: Settings, extra_plugins: Iterable[tuple[str, Any]] = ()) -> None:
        """:param extra_plugins: ``(name, plugin)`` pairs registered in-process (tests, embedding)."""
        self._settings = settings
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._found: list[_Found] = []
        self._load_entry_points()
        for name, plugin in extra_plugins:
            self._register(name, plugin, source="in-process")
        # A misspelt hook name fails loudly at start rather than being silently ignored.
        self._manager.check_pending()
        if os.environ.get(TRACE_ENV):
            self._manager.trace.root.setwriter(log.info)
            self._manager.enable_tracing()

    def _load_entry_points(self) -> None:
        disabled = set(self._settings.plugins.disabled)
        autoload = self._settings.plugins.autoload and not os.environ.get(AUTOLOAD_OFF_ENV)
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = entry_point.dist
            builtin = dist is not None and dist.name == BUILTIN_DISTRIBUTION
            source = (
                BUILTIN_SOURCE if builtin else f"{dist.name} {dist.version}" if dist else "unknown"
            )
            if entry_point.name in disabled or not (builtin or autoload):
                self._found.append(_Found(entry_point.name, source, enabled=False))
                continue
            self._register(entry_point.name, entry_point.load(), source)

    def _register(self, name: str, plugin: Any, source: str) -> None:
        if name in self._settings.plugins.disabled:
            self._found.append(_Found(name, source, enabled=False))
            return
        self._manager.register(plugin, name=name)
        self._found.append(_Found(name, source, enabled=True))

    def collect_registrations(self, ledger: PrivacyLedger) -> Registrations:
        """Calls every ``infogap_register_*`` hook once and returns what was registered.

        :param ledger: handed to the aggregate-guard hook, for guards that spend privacy budget.
        """
        registrations = Registrations()
        # hook, kind shown by ListPlugins, where registered objects go, arguments beyond
        # register and settings
        hooks: tuple[tuple[str, str, Callable[[Any], None], dict[str, Any]], ...] = (
            ("infogap_register_models", "model", registrations.add_trainer, {}),
            ("infogap_register_rerankers", "reranker", registrations.rerankers.append, {}),
            (
                "infogap_register_aggregate_guards",
                "aggregate_guard",
                registrations.aggregate_guards.append,
                {"ledger": ledger},
            ),
            (
                "infogap_register_profile_contributors",
                "profile_contributor",
                registrations.profile_contributors.append,
                {},
            ),
        )
        for name, plugin in self._manager.list_name_plugin():
            provided = registrations.provided_by.setdefault(name, [])
            # Each plugin is called on its own so that what it registers is attributed to it.
            others = [p for p in self._manager.get_plugins() if p is not plugin]
            for hook, kind, add, arguments in hooks:

                def register(
                    registered: Any,
                    kind: str = kind,
                    add: Callable[[Any], None] = add,
                    provided: list[str] = provided,
                ) -> None:
                    add(registered)
                    label = getattr(registered, "strategy", None) or registered.name
                    provided.append(f"{kind}:{label}")

                self._manager.subset_hook_caller(hook, others)(
                    register=register, settings=self._settings, **arguments
                )
        for ordered in (
            registrations.rerankers,
            registrations.aggregate_guards,
            registrations.profile_contributors,
        ):
            ordered.sort(key=lambda registered: registered.order)
        return registrations

    def plugin_infos(self, registrations: Registrations) -> list[PluginInfo]:
        infos = []
        for found in self._found:
            plugin = self._manager.get_plugin(found.name) if found.enabled else None
            hooks = (
                tuple(sorted(caller.name for caller in self._manager.get_hookcallers(plugin) or []))
                if plugin is not None
                else ()
            )
            infos.append(
                PluginInfo(
                    name=found.name,
                    source=found.source,
                    enabled=found.enabled,
                    hooks=hooks,
                    provides=tuple(registrations.provided_by.get(found.name, ())),
                )
            )
        return infos
