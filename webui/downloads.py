"""File downloads of tables (CSV, XLSX) for the pages and the REST API: the bytes come from the engine
(``engine.queries.exports``); this sets the type, the file name (UTF-8, RFC 6266) and no caching."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response

from engine.queries.exports import CONTENT_TYPES, check_format


def download(data: bytes, name: str, fmt: str) -> Response:
    """``data`` as an attachment ``name.fmt`` (``fmt``: csv or xlsx); a Chinese name survives in every browser."""
    check_format(fmt)
    file_name = f"{name}.{fmt}"
    ascii_name = file_name.encode("ascii", "ignore").decode() or f"export.{fmt}"
    return Response(data, mimetype=CONTENT_TYPES[fmt].split(";")[0], headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}",
        "Cache-Control": "private, no-store"})
