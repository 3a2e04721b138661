"""What the server prints once it listens: where, and in demo mode (``make run``) who to sign in as."""
from __future__ import annotations

from engine.time import clock
from webui.demo import banner


def print_banner(host: str, port: int) -> None:
    print(f"Whistle is serving on http://{host}:{port}/  (health: http://{host}:{port}/health)", flush=True)
    if clock.mode() == "demo":
        print(banner(f"http://{host}:{port}/"), flush=True)
