"""The staff pages, a module per area: signing in (``login``), the inbox, a task's form (``tasks``), starting
work (``start``), cases, the designers' ``definitions``, ``deploy_upload`` (上传部署), ``versions``,
``modeler``, ``editors`` (forms in form-js, decision tables in dmn-js), the ``admin`` page, 案件管理
(``case_admin``), bulk operations (``batches``), the people, tokens and calendar pages (``people``), ``incidents``,
``upgrade`` and the case page's ``repairs``. They share
one blueprint and its checks (``frame``), one form-submit flow (``submit``), and how things read on screen
(``display``, ``formview``)."""
from __future__ import annotations

from flask import Flask

from webui import csrf, i18n
from webui.staff import (  # noqa: F401  (routes)
    admin,
    batches,
    case_admin,
    cases,
    dashboard,
    definitions,
    deploy_upload,
    display,
    editors,
    evaluation,
    inbox,
    incidents,
    login,
    modeler,
    notifications,
    people,
    repairs,
    start,
    tasks,
    upgrade,
    versions,
)
from webui.staff.frame import pages, session_ended


def init_app(app: Flask) -> None:
    """The page blueprint and what its templates call: ``_``, ``pick``, ``lang``, ``fmt`` (``display``)."""
    app.register_blueprint(pages)
    app.extensions[csrf.SIGNED_OUT] = session_ended  # a post whose session cookie expired: sign in, then back
    app.jinja_env.globals.update(_=i18n.gettext, pick=i18n.pick, lang=i18n.current, fmt=display)
    app.jinja_env.filters.update(local_time=display.local_time, short_time=display.short_time)
