"""Whistle's web service: a Flask application factory over the engine (``engine.api.Whistle``).

``webui.rest`` is the JSON API for other systems, ``webui.staff`` the pages for people, ``webui.serving`` runs
them (waitress, or gunicorn with several processes). What both share sits here: the configuration
(``config``), the error → status map (``errors``), CSRF, input bounds, a lost database (``dbloss``),
translations (``i18n``), security headers, signing in (``signin``) and the JSON encoder.
"""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, jsonify

from engine.api import Whistle
from webui import config, csrf, dbloss, errors, headers, i18n, inputs, staff
from webui.dbloss import WhistleFlask
from webui.jsonprovider import OrjsonProvider
from webui.rest import api


def create_app(settings: dict[str, Any] | None = None) -> Flask:
    """The app, with its own engine unless ``settings["ENGINE"]`` gives one (tests share theirs)."""
    app = WhistleFlask(__name__)  # Flask, re-running a read once when its database connection drops
    app.json = OrjsonProvider(app)  # ensure_ascii and sort_keys off (webui.jsonprovider)
    app.config.update(
        DATABASE_URL=os.environ.get("WHISTLE_DATABASE_URL"),
        SECRET_KEY=os.environ.get("WHISTLE_SECRET_KEY"),  # unset: kept in var/secret_key (webui.config)
        JSON_AS_ASCII=False,
    )
    app.config.update(settings or {})
    app.extensions["whistle"] = app.config.get("ENGINE") or Whistle(app.config["DATABASE_URL"])

    @app.get("/health")
    def health() -> Response:
        engine: Whistle = app.extensions["whistle"]
        engine.check_schema()
        return jsonify(status="ok", database=engine.db.dialect, pid=os.getpid())  # pid: which server process

    app.register_blueprint(api, url_prefix="/api/v1")
    # The order of the request hooks matters: CSRF, then input bounds, then the language (webui.i18n).
    config.configure(app)
    csrf.init_app(app)
    inputs.init_app(app)  # ids, pages and NUL characters within bounds, before any view runs
    dbloss.init_app(app)  # a lost database answers 503 with Retry-After
    staff.init_app(app)  # the staff pages: sign-in, inbox, forms, cases
    headers.init_app(app)
    errors.init_app(app)  # an engine error outside the API and the pages (/health); a request too large
    i18n.init_app(app)
    return app
