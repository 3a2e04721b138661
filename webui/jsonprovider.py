"""JSON responses encoded with orjson: an inbox page is 50 task objects, and the standard library's encoder
was a tenth of the request's server time (bench/RESULTS.md, "HTTP").

Output is what Flask's default provider gives with ``ensure_ascii`` off and ``sort_keys`` off (UTF-8, keys
in the order the engine builds them); dates, datetimes, dataclasses, decimals and UUIDs still go through
Flask's own conversion, so their format is unchanged.

Whatever orjson cannot write (an integer beyond 64 bits stored before the engine refused them) is written by
the standard encoder instead: an answer must not fail, least of all after its command has committed.
"""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # an explicit indent, sort_keys…: the standard encoder honours them
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
            return super().dumps(obj)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)  # pretty-printed in debug mode, as Flask does
        try:
            body = orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
            return super().response(*args, **kwargs)
        # The app is a Flask app: its response_class is flask's Response (typed as the sansio base, whose
        # first argument is not the body).
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type]
