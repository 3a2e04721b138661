"""``whistle user | token``: local accounts and the REST API's bearer tokens."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.arguments import engine_for
from cli.output import emit, table
from cli.registry import Commands
from engine.errors import InvalidInput, NotFound


def register(commands: Commands) -> None:
    user = commands.group("user", "manage local accounts")
    p = user.add("add", "add a user or add groups to one (idempotent)", add_user)
    p.add_argument("name")
    p.add_argument("--group", action="append", default=[], dest="groups")
    p.add_argument("--password")
    p.add_argument("--display-name")
    p = user.add("import", "load groups and users from a JSON file (idempotent); with --user as that "
                           "administrator, from CSV or JSON, after --preview", import_users)
    p.add_argument("file")
    p.add_argument("--user", dest="actor", help="the administrator loading the file (CSV or JSON)")
    p.add_argument("--preview", action="store_true", help="show what loading would do, row by row; load nothing")
    p = user.add("list", "accounts by name, with their groups", list_accounts)
    p.add_argument("--user", dest="actor", required=True, help="the administrator asking")
    p.add_argument("--search", help="a part of the name or display name")
    p.add_argument("--group")
    p.add_argument("--inactive", action="store_true", help="only deactivated accounts")
    p.add_argument("--page", type=int, default=1)
    p = user.add("create", "create an account (a one-time password is printed unless --password)", create_account)
    p.add_argument("name")
    p.add_argument("--user", dest="actor", required=True, help="the administrator creating it")
    p.add_argument("--group", action="append", default=[], dest="groups")
    p.add_argument("--display-name")
    p.add_argument("--password")
    p = user.add("groups", "set an account's groups to exactly those given", set_groups)
    p.add_argument("name")
    p.add_argument("--user", dest="actor", required=True, help="the administrator changing them")
    p.add_argument("--set", nargs="*", default=[], dest="groups", metavar="GROUP")
    for verb, active in (("deactivate", False), ("activate", True)):
        p = user.add(verb, f"{verb} an account (its sessions and tokens stop)" if not active
                     else "let a deactivated account sign in again", set_active)
        p.add_argument("name")
        p.add_argument("--user", dest="actor", required=True, help="the administrator")
        p.set_defaults(active=active)
    p = user.add("reset-password", "give an account a new one-time password (printed once)", reset_password)
    p.add_argument("name")
    p.add_argument("--user", dest="actor", required=True, help="the administrator")

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
    if args.actor is None:
        if args.preview:
            raise InvalidInput("--preview needs --user (the administrator who would load the file)")
        result = engine_for(args).import_users(args.file)
        emit(args, result, lambda v: f"{v['users']} users ({v['created']} new), {v['groups']} groups")
        return 0
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    w = engine_for(args)
    report = (w.preview_people if args.preview else w.load_people)(args.actor, path.name, content)
    emit(args, report, _people_report)
    return 0 if report["ok"] else 1


def _people_report(report: dict) -> str:
    counts = report["counts"]
    lines = [f"{report['file']}: {counts['create']} new, {counts['update']} updated, {counts['unchanged']} unchanged, "
             f"{counts['error']} with errors"]
    lines += [f"  {problem}" for problem in report["problems"]]
    lines += [f"  {row['where']}: {row['username'] or '(no name)'}: {'; '.join(row['problems'])}"
              for row in report["people"] if row["problems"]]
    return "\n".join(lines)


def list_accounts(args: argparse.Namespace) -> int:
    found = engine_for(args).accounts(args.actor, args.search, args.group, False if args.inactive else None, args.page)
    emit(args, found, lambda v: table(v["accounts"], ["username", "display_name", "active", "groups"])
         + f"\npage {v['page']} of {v['pages']} ({v['total']} accounts)")
    return 0


def create_account(args: argparse.Namespace) -> int:
    result = engine_for(args).create_account(args.actor, args.name, args.display_name, args.groups, args.password)
    emit(args, result, lambda v: f"user {v['username']} created; groups: {', '.join(v['groups']) or '(none)'}"
         + (f"\none-time password: {v['password']}\nhand it over now: it is not shown again" if v["password"] else ""))
    return 0


def set_groups(args: argparse.Namespace) -> int:
    result = engine_for(args).set_account_groups(args.actor, args.name, args.groups)
    emit(args, result, lambda v: f"user {v['username']}: groups {', '.join(v['groups']) or '(none)'}")
    return 0


def set_active(args: argparse.Namespace) -> int:
    result = engine_for(args).set_account_active(args.actor, args.name, args.active)
    emit(args, result, lambda v: f"user {v['username']} {'activated' if v['active'] else 'deactivated'}")
    return 0


def reset_password(args: argparse.Namespace) -> int:
    result = engine_for(args).reset_password(args.actor, args.name)
    emit(args, result, lambda v: f"user {v['username']}: one-time password {v['password']}\n"
                                 f"hand it over now: it is not shown again; every session of the account ended")
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
