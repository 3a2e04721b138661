"""The registry of the named services a BPMN service task can call. A service module registers its functions with
:func:`service`; ``engine.scripting.services`` imports every service module and calls them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ServiceError(Exception):
    """A service could not run (unknown name, bad parameters, no transaction)."""


@dataclass(frozen=True)
class Service:
    name: str
    function: Callable[..., Any]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    description: str = ""


SERVICES: dict[str, Service] = {}


def service(name: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
            description: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``function(session, **parameters)`` as the service ``name``."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        SERVICES[name] = Service(name, function, tuple(required), tuple(optional), description)
        return function

    return register
