"""Whistle's web service: a Flask application factory over the engine (``engine.api.Whistle``)."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify

from engine.api import Whistle
from engine.errors import WhistleError

from .api import api
from .dbloss import WhistleFlask
from .jsonprovider import OrjsonProvider
from .web import init_web

HTTP_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 422, "invalid_deployment": 422,
               "incident": 422, "not_migrated": 503, "error": 400}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = WhistleFlask(__name__)  # Flask, re-running a read once when its database connection drops
    app.json = OrjsonProvider(app)  # ensure_ascii and sort_keys off (webui.jsonprovider)
    app.config.update(
        DATABASE_URL=os.environ.get("WHISTLE_DATABASE_URL"),
        SECRET_KEY=os.environ.get("WHISTLE_SECRET_KEY"),  # unset: kept in var/secret_key (webui.web)
        JSON_AS_ASCII=False,
    )
    app.config.update(config or {})
    app.extensions["whistle"] = app.config.get("ENGINE") or Whistle(app.config["DATABASE_URL"])

    @app.get("/health")
    def health():
        engine: Whistle = app.extensions["whistle"]
        engine.check_schema()
        return jsonify(status="ok", database=engine.db.dialect, pid=os.getpid())  # pid: which server process

    @app.errorhandler(WhistleError)
    def whistle_error(exc: WhistleError):
        return jsonify(exc.to_dict()), HTTP_STATUS.get(exc.kind, 400)

    app.register_blueprint(api, url_prefix="/api/v1")
    init_web(app)  # the staff pages: sign-in, inbox, forms, cases (webui.pages)
    return app
