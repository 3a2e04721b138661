"""JSON API (a first slice: the inbox). Clients authenticate with HTTP Basic against local accounts."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request

from engine.accounts import authenticate
from engine.api import Whistle

api = Blueprint("api", __name__)


def engine() -> Whistle:
    return current_app.extensions["whistle"]


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        auth = request.authorization
        user = None
        if auth and auth.type == "basic" and auth.username and auth.password:
            with engine().db.read() as session:
                account = authenticate(session, auth.username, auth.password)
                user = account.username if account else None
        if user is None:
            response = jsonify(error="unauthorized", message="sign in with a Whistle account (HTTP Basic)")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="whistle"'
            return response
        g.user = user
        return view(*args, **kwargs)

    return wrapper


@api.get("/tasks")
@login_required
def inbox():
    """The signed-in user's inbox: tasks claimed by them or offered to their groups."""
    limit = min(max(request.args.get("limit", 50, type=int), 1), 500)
    offset = max(request.args.get("offset", 0, type=int), 0)
    return jsonify(user=g.user, tasks=engine().tasks(g.user, limit=limit, offset=offset))
