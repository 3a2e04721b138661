"""The REST API under ``/api/v1``: a thin JSON shell over ``engine.api.Whistle`` for other systems (a 12345
hotline, a grid platform) and for scripts. Documented by ``webui.rest.openapi`` at ``/api/v1/openapi.json``.

A module per resource — ``tasks``, ``instances``, ``definitions``, ``deployments``, ``messages``, ``accounts``,
``batches``, ``incidents``, ``repairs`` — holds its routes and its part of the OpenAPI document; they share one
blueprint and its error handling (``shell``), the caller (``auth``: HTTP Basic or a bearer token, never cookies)
and request parsing (``body``).

Errors always have one shape: ``{"error": kind, "message": one sentence, "details": {...}}`` (details only
when there is something to add), with 400 malformed body, 401 unauthenticated, 403 forbidden, 404 not
found, 405 method not allowed, 409 conflict, 422 invalid input or an incident, 503 database not migrated.
"""
from __future__ import annotations

# Imported for what they register on the blueprint: auth its hook, the others their routes.
from webui.rest import (  # noqa: F401
    accounts,
    auth,
    batches,
    definitions,
    deployments,
    incidents,
    instances,
    messages,
    notifications,
    openapi,
    repairs,
    tasks,
)
from webui.rest.shell import api

__all__ = ["api"]
