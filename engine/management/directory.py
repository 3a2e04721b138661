"""The administrators' directory: accounts (find, create, deactivate, reset a password, set groups), bulk loads
of people from CSV or JSON after a preview, the groups the processes route work to (the organisation as the
accounts carry it: streets, grids, departments, district offices), and the API tokens.

Every call names the administrator who makes it and is refused (``Forbidden``) for anyone else, whichever
channel asks: the pages, the REST API, the command line's ``--user``. The rules themselves are in
``engine.identity.directory``.
"""
from __future__ import annotations

import re

from engine.audit.chain import AuditLog
from engine.errors import InvalidInput
from engine.identity import directory as rules
from engine.identity import roles
from engine.identity import tokens as api_tokens
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import accounts as stored
from engine.store.db import Database

PAGE_SIZE = 50
# How the district names its groups (processes/organisation/district.json): the kind of unit a group is.
GROUP_KINDS = (("street", re.compile(r"^street-.+-(command|party)$")), ("grid", re.compile(r"^grid-")),
               ("department", re.compile(r"^dept-")), ("district", re.compile(r"^(district-|org-dept)")),
               ("role", re.compile(r"^(designers|admins|residents)$")))


def group_kind(name: str) -> str:
    return next((kind for kind, pattern in GROUP_KINDS if pattern.match(name)), "other")


class Directory:
    """Accounts, groups and tokens, for administrators only; thread-safe (each call opens its own session)."""

    def __init__(self, db: Database, runtime: Runtime) -> None:
        self.db, self.runtime = db, runtime

    def _require_admin(self, session: Session, actor: str, doing: str) -> None:
        roles.require(session, actor, roles.ADMINS, doing)

    def _command(self, name: str, actor: str, doing: str, work):  # noqa: ANN001, ANN202 - a command's body
        def checked(session: Session, audit: AuditLog):  # noqa: ANN202
            self._require_admin(session, actor, doing)
            return work(session, audit)

        return self.runtime.run_command(CommandContext(name, actor), checked)

    # -- reading ------------------------------------------------------------------------------------------------

    def accounts(self, actor: str, text: str | None = None, group: str | None = None, active: bool | None = None,
                 page: int = 1, per_page: int = PAGE_SIZE) -> dict:
        """One page of accounts by name: ``{"total", "page", "pages", "accounts": [...]}``."""
        if page < 1 or not 1 <= per_page <= 500:
            raise InvalidInput("page starts at 1 and per_page is 1 to 500")
        with self.db.read() as session:
            self._require_admin(session, actor, "list accounts")
            total, rows = stored.accounts_page(session, (text or "").strip() or None, group or None, active,
                                               (page - 1) * per_page, per_page)
        return {"total": total, "page": page, "pages": max(1, -(-total // per_page)),
                "accounts": [{"username": a.username, "display_name": a.display_name, "active": bool(a.active),
                              "groups": groups, "created_at": a.created_at.isoformat(),
                              "has_password": bool(a.password_hash)} for a, groups in rows]}

    def groups(self, actor: str) -> list[dict]:
        """Every group with its kind (street, grid, department, district, role, other) and member counts."""
        with self.db.read() as session:
            self._require_admin(session, actor, "list groups")
            rows = stored.groups_with_counts(session)
        return [{"name": name, "display_name": label, "kind": group_kind(name), "active_members": active,
                 "members": total} for name, label, active, total in rows]

    def tokens(self, actor: str) -> list[dict]:
        with self.db.read() as session:
            self._require_admin(session, actor, "list API tokens")
            return api_tokens.listing(session)

    # -- one account ----------------------------------------------------------------------------------------------

    def create_account(self, actor: str, username: str, display_name: str | None = None,
                       groups: list[str] | None = None, password: str | None = None) -> dict:
        """A new account; without a password a one-time one, in the result's ``password`` (shown once)."""
        return self._command("user create", actor, "create accounts", lambda s, a: rules.create_account(
            s, a, username, display_name, list(groups or []), password, actor))

    def set_groups(self, actor: str, username: str, groups: list[str]) -> dict:
        return self._command("user groups", actor, "change groups",
                             lambda s, a: rules.set_groups(s, a, username, groups, actor))

    def set_active(self, actor: str, username: str, active: bool) -> dict:
        return self._command("user activate" if active else "user deactivate", actor, "(de)activate accounts",
                             lambda s, a: rules.set_active(s, a, username, active, actor))

    def reset_password(self, actor: str, username: str) -> dict:
        return self._command("user reset-password", actor, "reset passwords",
                             lambda s, a: rules.reset_password(s, a, username, actor))

    # -- in bulk ----------------------------------------------------------------------------------------------------

    def preview_people(self, actor: str, name: str, content: bytes | str) -> dict:
        """What loading the file would do, row by row; nothing is written."""
        found = rules.read_people(name, content)
        with self.db.read() as session:
            self._require_admin(session, actor, "import accounts")
            return rules.plan(session, found)

    def load_people(self, actor: str, name: str, content: bytes | str, expected_hash: str | None = None) -> dict:
        """Load a previewed file in one transaction (refused, with nothing written, if any row has an error)."""
        found = rules.read_people(name, content)
        return self._command("user import", actor, "import accounts",
                             lambda s, a: rules.load(s, a, found, actor, expected_hash))

    # -- tokens ----------------------------------------------------------------------------------------------------

    def create_token(self, actor: str, name: str, user: str, scopes: list[str]) -> dict:
        return self._command("token create", actor, "create API tokens",
                             lambda s, a: api_tokens.create(s, a, name, user, scopes, actor))

    def revoke_token(self, actor: str, name: str) -> dict:
        return self._command("token revoke", actor, "revoke API tokens",
                             lambda s, a: api_tokens.revoke(s, a, name, actor))
