"""Every RPC of the InfoGap API, read from the generated descriptors of ``infogap.v1``.

The fuzz tests and the meta-tests enumerate the API from here, so a new RPC is fuzzed and
checked for an SDK method without anyone listing it by hand.
"""

from __future__ import annotations

import importlib
import pkgutil

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import infogap.v1


def services() -> list[ServiceDescriptor]:
    """Returns every service of every ``infogap.v1.*_pb2`` module, ordered by full name."""
    modules = [
        importlib.import_module(f"infogap.v1.{module.name}")
        for module in pkgutil.iter_modules(infogap.v1.__path__)
        if module.name.endswith("_pb2")
    ]
    found = [s for m in modules for s in m.DESCRIPTOR.services_by_name.values()]
    return sorted(found, key=lambda service: service.full_name)


def methods() -> list[MethodDescriptor]:
    """Returns every RPC of every service, ordered by service, then as declared."""
    return [method for service in services() for method in service.methods]


def by_name() -> dict[str, MethodDescriptor]:
    """Returns every RPC keyed by its bare name (``Recommend``): the names are unique across
    the API (a meta-test checks it), and the SDK and the fuzz tests use them."""
    return {method.name: method for method in methods()}
