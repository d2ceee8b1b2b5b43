"""Administrators of the portal, in the ``admins`` table of the administrative
database (:mod:`b2bua.runtime.admin_db`: SQLite, or PostgreSQL shared by several servers).

Two roles: ``system`` (everything) and ``group``, a business-group administrator
bound to one group, who sees and changes only that group's data.  Passwords are
stored as ``scrypt$N$SALT$HASH`` (a random 16-byte salt per administrator, the
scrypt of :func:`b2bua.runtime.authcodes.hash_code` at cost ``N``); the
password itself is never stored, printed or logged.  :meth:`AdminStore.check`
costs one hash whether the name exists or not, so the answer's timing does not
tell which names exist.  The first administrator is made with ``b2bua admin
add``.

API tokens (``api_tokens`` table, ``b2bua api-token add NAME [--group G]``) let
programs use the JSON API (:mod:`b2bua.web.api`) with the same roles; a token is
shown once, at its making, and kept only as its SHA-256.

Synchronous: the portal calls it in a worker thread.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import hmac
import os
import re
import time
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from .authcodes import SALT_BYTES, hash_code

if TYPE_CHECKING:
    from .admin_db import AdminDb

ADMIN_SCRYPT_N: Final = 1 << 15  # ~70 ms per login on a 2020s core, 32 MiB
NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD: Final = 10  # characters
MAX_PASSWORD: Final = 1024
TOKEN_BYTES: Final = 32  # an API token: this many random bytes, hex
Role = Literal["system", "group"]


class AdminError(Exception):
    """An administrator that cannot be stored; the message says why (never the password)."""


class Admin(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    role: Role
    group: str | None = None  # the group of a group administrator

    def may_manage(self, group: str) -> bool:
        return self.role == "system" or self.group == group


def hash_password(password: str, salt: bytes | None = None, n: int = ADMIN_SCRYPT_N) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    return f"scrypt${n}${salt.hex()}${hash_code(password, salt, n=n)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n_text, salt_hex, digest = stored.split("$")
        n, salt = int(n_text), bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if kind != "scrypt" or n < 2 or n & (n - 1):
        return False
    return hmac.compare_digest(hash_code(password, salt, n=n), digest)


def _token_digest(token: str) -> str:
    # a token is TOKEN_BYTES random bytes: a plain hash is enough (nothing to guess)
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _nobody() -> str:
    """Checked when a name is unknown, so that answer costs the same hash."""
    return hash_password("-", b"\0" * SALT_BYTES)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AdminError(f"the password must have at most {MAX_PASSWORD} characters")


class AdminStore:
    def __init__(self, db: AdminDb) -> None:
        self.db = db

    def add(self, name: str, password: str, *, group: str | None = None) -> Admin:
        if not NAME_RE.match(name):
            raise AdminError("a name is 1 to 64 letters, digits or _ . @ -")
        if group is not None and not group.strip():
            raise AdminError("the group of a group administrator cannot be empty")
        check_password_rules(password)
        admin = Admin(name=name, role="group" if group is not None else "system", group=group)
        try:
            self.db.execute(
                "INSERT INTO admins (name, password, role, grp, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, hash_password(password), admin.role, group, time.time()),
            )
        except self.db.IntegrityError:
            raise AdminError(f"administrator {name!r} exists already") from None
        return admin

    def remove(self, name: str, *, keep_system: bool = False) -> None:
        """Remove ``name``; with ``keep_system`` never the last system administrator."""
        with self.db.transaction():
            if keep_system:
                (others,) = self.db.execute(
                    "SELECT count(*) FROM admins WHERE role = 'system' AND name != ?", (name,)).fetchone()
                row = self.db.execute("SELECT role FROM admins WHERE name = ?", (name,)).fetchone()
                if row is not None and row[0] == "system" and others == 0:
                    raise AdminError(f"{name} is the last system administrator: add another one first")
            cur = self.db.execute("DELETE FROM admins WHERE name = ?", (name,))
        if cur.rowcount == 0:
            raise AdminError(f"no administrator {name!r}")

    def set_password(self, name: str, password: str) -> None:
        check_password_rules(password)
        cur = self.db.execute("UPDATE admins SET password = ? WHERE name = ?", (hash_password(password), name))
        if cur.rowcount == 0:
            raise AdminError(f"no administrator {name!r}")

    def created(self, tokens: bool = False) -> dict[str, float]:
        """When each administrator (or API token) was made, by name."""
        table = "api_tokens" if tokens else "admins"
        return {r[0]: r[1] for r in self.db.execute(f"SELECT name, created_at FROM {table}")}

    def get(self, name: str) -> Admin | None:
        row = self.db.execute("SELECT name, role, grp FROM admins WHERE name = ?", (name,)).fetchone()
        return None if row is None else Admin(name=row[0], role=row[1], group=row[2])

    def list(self) -> list[Admin]:
        rows = self.db.execute("SELECT name, role, grp FROM admins ORDER BY name")
        return [Admin(name=r[0], role=r[1], group=r[2]) for r in rows]

    def check(self, name: str, password: str) -> Admin | None:
        """The administrator whose password this is, else None (one hash either way)."""
        row = self.db.execute("SELECT name, role, grp, password FROM admins WHERE name = ?", (name,)).fetchone()
        if row is None:
            verify_password(password, _nobody())
            return None
        if not verify_password(password, row[3]):
            return None
        return Admin(name=row[0], role=row[1], group=row[2])

    # -- API tokens ------------------------------------------------------------
    def add_token(self, name: str, *, group: str | None = None) -> str:
        """A new API token for ``name`` (shown once: only its SHA-256 is kept)."""
        if not NAME_RE.match(name):
            raise AdminError("a name is 1 to 64 letters, digits or _ . @ -")
        if group is not None and not group.strip():
            raise AdminError("the group of a group token cannot be empty")
        token = os.urandom(TOKEN_BYTES).hex()
        try:
            self.db.execute(
                "INSERT INTO api_tokens (name, digest, role, grp, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, _token_digest(token), "group" if group is not None else "system", group, time.time()),
            )
        except self.db.IntegrityError:
            raise AdminError(f"API token {name!r} exists already") from None
        return token

    def remove_token(self, name: str) -> None:
        cur = self.db.execute("DELETE FROM api_tokens WHERE name = ?", (name,))
        if cur.rowcount == 0:
            raise AdminError(f"no API token {name!r}")

    def tokens(self) -> builtins.list[Admin]:
        rows = self.db.execute("SELECT name, role, grp FROM api_tokens ORDER BY name")
        return [Admin(name=r[0], role=r[1], group=r[2]) for r in rows]

    def token_client(self, token: str) -> Admin | None:
        """Who an API token is (its name as ``token:NAME``), else None."""
        if len(token) > 256:
            return None
        row = self.db.execute("SELECT name, role, grp FROM api_tokens WHERE digest = ?",
                              (_token_digest(token),)).fetchone()
        return None if row is None else Admin(name=f"token:{row[0]}", role=row[1], group=row[2])
