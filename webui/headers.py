"""Security headers on every answer: no sniffing, no framing, same-origin referrers, HSTS when configured,
and on pages a Content-Security-Policy and no caching."""
from __future__ import annotations

from flask import Flask, Response


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["HSTS_SECONDS"] > 0:
            # Sent over plain HTTP too: behind a TLS-terminating proxy the app cannot tell, and browsers
            # ignore the header on an insecure answer anyway.
            response.headers.setdefault("Strict-Transport-Security", f"max-age={int(app.config['HSTS_SECONDS'])}")
        if response.mimetype == "text/html":
            # bpmn-js sets style attributes on the SVG it draws, hence 'unsafe-inline' for styles only.
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
                "frame-ancestors 'none'")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
