"""What the list pages (the inbox, the case list) share: the query parameters that are the page's own and not
the engine's (which page, the language, a partial reload), numbered page links, and the street and
department options of the filters in the reader's language. The filters themselves are checked by the
engine (``engine.casework.listing``)."""
from __future__ import annotations

from flask import request

from engine.errors import InvalidInput
from webui import i18n
from webui.errors import error_page

OWN_PARAMS = ("page", "lang", "partial")  # read by the page itself (webui.inputs, webui.i18n, the inbox's poll)


def query_args() -> dict[str, str]:
    """The request's query parameters that the engine's list query checks (the first value of each)."""
    return {name: value for name, value in request.args.items() if name not in OWN_PARAMS}


def page_links(page: int, total: int, size: int, more: bool = False) -> dict:
    """Numbered paging: ``last`` (the last page), ``numbers`` (1, the pages around ``page`` and the last, with
    None where pages are left out), ``previous`` / ``next`` (page numbers or None)."""
    last = max(1, -(-total // size))
    if more:
        last = max(last, page + 1)
    wanted = {1, last} | {n for n in range(page - 2, page + 3) if 1 <= n <= last}
    numbers: list[int | None] = []
    for n in sorted(wanted):
        if numbers and numbers[-1] is not None and n - numbers[-1] > 1:
            numbers.append(None)
        numbers.append(n)
    return {"page": page, "last": last, "numbers": numbers if last > 1 else [],
            "previous": page - 1 if page > 1 else None, "next": page + 1 if page < last else None}


def scope_labels(options: dict[str, dict[str, tuple[str, str | None]]]) -> dict[str, dict[str, str]]:
    """``Whistle.scope_options`` with each label in the reader's language."""
    english = i18n.current() == "en"
    return {kind: {value: (label[1] or label[0]) if english else label[0] for value, label in values.items()}
            for kind, values in options.items()}


def refused(exc: InvalidInput) -> tuple[str, int]:
    """The page for a list query the engine refused: 400, naming the parameter (the engine's sentence)."""
    return error_page(400, "筛选条件无效", exc.message)
