"""``whistle user | token``: local accounts and the REST API's bearer tokens."""
from __future__ import annotations

import argparse

from cli.arguments import engine_for
from cli.output import emit, table
from cli.registry import Commands


def register(commands: Commands) -> None:
    user = commands.group("user", "manage local accounts")
    p = user.add("add", "add a user or add groups to one (idempotent)", add_user)
    p.add_argument("name")
    p.add_argument("--group", action="append", default=[], dest="groups")
    p.add_argument("--password")
    p.add_argument("--display-name")
    p = user.add("import", "load groups and users from a JSON file (idempotent)", import_users)
    p.add_argument("file")

    token = commands.group("token", "bearer tokens for system clients of the REST API")
    p = token.add("create", "create a token (printed once; only its hash is stored)", create_token)
    p.add_argument("name")
    p.add_argument("--user", required=True, help="the account the token acts as")
    p.add_argument("--scope", action="append", default=[], dest="scopes", metavar="SCOPE",
                   help="what it may change besides reading: tasks, start, message (repeat for several)")
    p = token.add("revoke", "revoke a token by name", revoke_token)
    p.add_argument("name")
    token.add("list", "list tokens (never their values)", list_tokens)


def add_user(args: argparse.Namespace) -> int:
    result = engine_for(args).add_user(args.name, args.groups, args.password, args.display_name)
    emit(args, result, lambda v: f"user {v['username']} {'created' if v['created'] else 'updated'}; "
                                 f"groups: {', '.join(v['groups']) or '(none)'}")
    return 0


def import_users(args: argparse.Namespace) -> int:
    result = engine_for(args).import_users(args.file)
    emit(args, result, lambda v: f"{v['users']} users ({v['created']} new), {v['groups']} groups")
    return 0


def create_token(args: argparse.Namespace) -> int:
    result = engine_for(args).create_token(args.name, args.user, args.scopes)
    emit(args, result, lambda v: f"token {v['name']} for {v['user']} (scopes: {', '.join(v['scopes']) or 'read only'})"
                                 f"\n{v['token']}\nstore it now: it is not shown again")
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).revoke_token(args.name), lambda v: f"token {v['name']} revoked at {v['revoked_at']}")
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).list_tokens(), lambda rows: table(
        rows, ["name", "user", "scopes", "created_at", "last_used_at", "revoked_at"]))
    return 0
