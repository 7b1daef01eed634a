"""Finds, loads and queries plugins with pluggy.

Built-in plugins (``plugins/``) and third-party ones are both published in the ``infogap``
entry-point group and loaded the same way; the built-ins are those of the ``infogap``
distribution itself. ``INFOGAP_DISABLE_PLUGIN_AUTOLOAD=1`` (or ``plugins.autoload = false``) keeps
third-party plugins out; ``plugins.disabled`` names plugins not to load at all.
``INFOGAP_TRACE_PLUGINS=1`` logs every hook call.

Each plugin's options are validated at start against the model its
``infogap_plugin_config_model`` names; its register hooks get that instance, never the
server's ``Settings``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from infogap.server.config import Settings
from infogap.server.core.domain import PluginInfo
from infogap.server.core.errors import StartupError
from infogap.server.core.plugins import hookspecs
from infogap.server.core.plugins.capabilities import ItemFeedback, NoItemFeedback
from infogap.server.core.plugins.protocols import PrivacyGuard, Registrations
from infogap.server.core.privacy.ledger import BudgetLedger

ENTRY_POINT_GROUP = "infogap"
BUILTIN_DISTRIBUTION = "infogap"
BUILTIN_SOURCE = "builtin"  # what ListPlugins says of the built-in plugins' origin
AUTOLOAD_OFF_ENV = "INFOGAP_DISABLE_PLUGIN_AUTOLOAD"
TRACE_ENV = "INFOGAP_TRACE_PLUGINS"
# Built-in plugins keep their options where users have always written them: a section of the
# server config rather than [plugin_config.NAME]. A core section (a model, such as profiles)
# lends the plugin only the fields its config model declares.
BUILTIN_SECTIONS = {
    "lightfm": "lightfm",
    "popularity": "popularity",
    "profile_sections": "profiles",
}

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
        self._configs = {
            name: self._validated_config(name, plugin)
            for name, plugin in self._manager.list_name_plugin()
        }

    def _caller(self, hook: str, plugin: Any) -> Any:
        """The hook, restricted to one plugin, so each plugin's answers are its own."""
        others = [p for p in self._manager.get_plugins() if p is not plugin]
        return self._manager.subset_hook_caller(hook, others)

    def _options(self, name: str, model: type[BaseModel] | None) -> Mapping[str, Any]:
        builtin = any(f.name == name and f.source == BUILTIN_SOURCE for f in self._found)
        section = BUILTIN_SECTIONS.get(name) if builtin else None
        if section is None:
            return self._settings.plugin_config.get(name, {})
        value: BaseModel | Mapping[str, Any] = getattr(self._settings, section)
        if isinstance(value, BaseModel):
            fields = model.model_fields if model is not None else {}
            return {key: v for key, v in value.model_dump().items() if key in fields}
        return value

    def _validated_config(self, name: str, plugin: Any) -> BaseModel | None:
        """The plugin's options validated against its config model (None without one).

        :raises StartupError: naming the plugin, the field and the reason, when an option is
            invalid or a plugin without a config model is given options.
        """
        model = self._caller("infogap_plugin_config_model", plugin)()
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise StartupError(
                f"plugin {name!r}: infogap_plugin_config_model must return a "
                f"pydantic model class, not {model!r}"
            )
        options = self._options(name, model)
        if model is None:
            if options:
                raise StartupError(
                    f"plugin {name!r} takes no options, but the config sets "
                    f"{', '.join(sorted(options))}"
                )
            return None
        try:
            return model.model_validate(dict(options))
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(options)'}: {error['msg']}"
                for error in invalid.errors()
            )
            raise StartupError(f"plugin {name!r} has invalid options: {problems}") from None

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

    def collect_registrations(
        self, ledger: BudgetLedger, item_feedback: ItemFeedback | None = None
    ) -> Registrations:
        """Calls every ``infogap_register_*`` hook once per plugin and returns what was
        registered, each plugin's registrations attributed to it.

        :param ledger: handed to the privacy-guard hook, for a guard that spends privacy budget.
        :param item_feedback: handed to the reranker hook (none: no events are counted).
        :raises StartupError: when a second privacy guard is registered.
        """
        registrations = Registrations()
        privacy_owner: list[str] = []  # the plugin that registered the privacy guard

        def add_privacy_guard(guard: PrivacyGuard, plugin: str) -> None:
            if registrations.privacy_guard is not None:
                raise StartupError(
                    f"plugin {plugin!r} registers the privacy guard {guard.name!r}, but "
                    f"{privacy_owner[0]!r} registered {registrations.privacy_guard.name!r} "
                    "already: a server has at most one privacy guard"
                )
            registrations.privacy_guard = guard
            privacy_owner.append(plugin)

        settings = self._settings
        # hook, kind shown by ListPlugins, where registered objects go, host facts it is given
        hooks: tuple[tuple[str, str, Callable[[Any, str], None], dict[str, Any]], ...] = (
            (
                "infogap_register_models",
                "model",
                lambda trainer, _: registrations.add_trainer(trainer),
                {"features": settings.features},
            ),
            (
                "infogap_register_rerankers",
                "reranker",
                lambda reranker, _: registrations.rerankers.append(reranker),
                {"item_feedback": item_feedback or NoItemFeedback()},
            ),
            (
                "infogap_register_aggregate_guards",
                "aggregate_guard",
                lambda guard, _: registrations.aggregate_guards.append(guard),
                {},
            ),
            (
                "infogap_register_privacy_guard",
                "privacy_guard",
                add_privacy_guard,
                {"policy": settings.privacy, "ledger": ledger},
            ),
            (
                "infogap_register_profile_contributors",
                "profile_contributor",
                lambda contributor, _: registrations.profile_contributors.append(contributor),
                {},
            ),
        )
        for name, plugin in self._manager.list_name_plugin():
            provided = registrations.provided_by.setdefault(name, [])
            for hook, kind, add, facts in hooks:

                def register(
                    registered: Any,
                    kind: str = kind,
                    add: Callable[[Any, str], None] = add,
                    name: str = name,
                    provided: list[str] = provided,
                ) -> None:
                    add(registered, name)
                    label = getattr(registered, "strategy", None) or registered.name
                    provided.append(f"{kind}:{label}")

                self._caller(hook, plugin)(register=register, config=self._configs[name], **facts)
        for ordered in (registrations.rerankers, registrations.profile_contributors):
            ordered.sort(key=lambda registered: registered.order)
        registrations.aggregate_guards.sort(key=lambda guard: guard.order)
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
