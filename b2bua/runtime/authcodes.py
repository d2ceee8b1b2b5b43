"""Authorization codes in the database, stored only as salted hashes
(:mod:`dialplan.authcodes` says what they are).

The ``auth_codes`` table (a migration of ``b2bua.runtime.store``) holds one
row per code: ``id``, ``digest`` (scrypt of the digits with the table's
salt, hex), ``description``, ``level``, ``classes`` (comma-separated call
classes, empty: every class) and ``active``.  The salt (random, 16 bytes) is
the ``auth_code_salt`` row of ``meta``, made with the first code.  The
digits are never stored, printed or logged: ``b2bua authcodes list`` shows
ids, descriptions, levels and classes.  The running server loads the table
at start (:meth:`AuthCodeStore.table`) and reloads it with the account codes
whenever the database changes (:class:`~b2bua.runtime.codes.CodeStore`), so
a change made with ``b2bua authcodes`` applies to the next call.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import TYPE_CHECKING, Final, Iterable

from dialplan.authcodes import AuthCode, is_auth_code
from dialplan.codes import parse_prefix_list
from dialplan.numbering import CallClass

if TYPE_CHECKING:
    from .admin_db import AdminDb

log = logging.getLogger("b2bua.codes")

SALT_BYTES: Final = 16
SALT_KEY: Final = "auth_code_salt"
# scrypt cost: ~30 ms per hash on a 2020s core (one hash per call dialed with a
# code); not stored with the digests, so changing them invalidates every code
SCRYPT_N: Final = 1 << 13
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
DIGEST_BYTES: Final = 32


class AuthCodeError(Exception):
    """A code that cannot be stored; the message says why (never the digits)."""


def hash_code(code: str, salt: bytes, *, n: int = SCRYPT_N) -> str:
    """The stored form of ``code`` (hex); ``n``: scrypt's cost (administrators'
    passwords, :mod:`b2bua.runtime.admins`, use a higher one)."""
    return hashlib.scrypt(
        code.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=DIGEST_BYTES, maxmem=64 << 20
    ).hex()


class AuthCodeTable:
    """Authorization codes in memory, found by hash: the policy's
    :class:`dialplan.authcodes.AuthCodeLookup` (one hash per lookup)."""

    def __init__(self, salt: bytes, codes: Iterable[AuthCode] = ()) -> None:
        if len(salt) < SALT_BYTES:
            raise ValueError(f"salt must have at least {SALT_BYTES} bytes")
        self.salt = salt
        self._by_digest = {c.digest: c for c in codes}

    def replace(self, codes: Iterable[AuthCode]) -> None:
        """The codes as stored now (the salt never changes once made)."""
        self._by_digest = {c.digest: c for c in codes}

    def __len__(self) -> int:
        return len(self._by_digest)

    # a follower of the account codes' reloads (b2bua.runtime.codes.CodeStore.followers)
    def read(self, db: AdminDb, /) -> list[AuthCode] | None:
        try:
            return read_codes(db)
        except AuthCodeError as err:  # a row the command line would not have written
            log.error("authorization codes not reloaded: %s", err)
            return None

    def apply(self, codes: list[AuthCode] | None, /) -> None:
        if codes is not None:
            self.replace(codes)

    def find(self, code: str, /) -> AuthCode | None:
        if not is_auth_code(code):
            return None
        digest = hash_code(code, self.salt)
        found = self._by_digest.get(digest)
        return found if found is not None and hmac.compare_digest(found.digest, digest) else None


def parse_classes(text: str) -> frozenset[CallClass]:
    out = set()
    for name in parse_prefix_list(text):
        try:
            out.add(CallClass(name.lower()))
        except ValueError:
            raise AuthCodeError(f"unknown call class {name!r} (one of {', '.join(c.value for c in CallClass)})") from None
    return frozenset(out)


def _row(row: tuple[int, str, str, int, str, int]) -> AuthCode:
    id_, digest, description, level, classes, active = row
    return AuthCode(id=id_, digest=digest, description=description, level=level,
                    classes=parse_classes(classes), active=bool(active))


def read_codes(db: AdminDb) -> list[AuthCode]:
    rows = db.execute("SELECT id, digest, description, level, classes, active FROM auth_codes ORDER BY id")
    return [_row(r) for r in rows]


class AuthCodeStore:
    """The auth_codes table of the administrative database (runtime.admin_db)."""

    def __init__(self, db: AdminDb) -> None:
        self.db = db

    def salt(self) -> bytes:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (SALT_KEY,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        salt = os.urandom(SALT_BYTES)
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                        (SALT_KEY, salt.hex()))  # two processes at once: the first one's salt
        return self.salt()

    def add(self, code: str, description: str, *, level: int = 0, classes: str = "") -> int:
        """Store ``code`` hashed; its id."""
        if not is_auth_code(code):
            raise AuthCodeError("an authorization code is 4 to 14 digits")
        if not description.strip():
            raise AuthCodeError("a description is needed: records name the code by it")
        if not 0 <= level <= 255:
            raise AuthCodeError("level must be 0 to 255")
        names = ",".join(sorted(c.value for c in parse_classes(classes)))
        digest = hash_code(code, self.salt())
        try:
            (id_,) = self.db.execute(
                "INSERT INTO auth_codes (digest, description, level, classes, active) VALUES (?, ?, ?, ?, 1)"
                " RETURNING id",
                (digest, description.strip(), level, names),
            ).fetchone()
        except self.db.IntegrityError:
            raise AuthCodeError("that authorization code exists already") from None
        return int(id_)

    def set_active(self, id_: int, active: bool) -> None:
        cur = self.db.execute("UPDATE auth_codes SET active = ? WHERE id = ?", (int(active), id_))
        if cur.rowcount == 0:
            raise AuthCodeError(f"no authorization code with id {id_}")

    def list(self) -> list[AuthCode]:
        return read_codes(self.db)

    def table(self) -> AuthCodeTable:
        return AuthCodeTable(self.salt(), self.list())


def describe(codes: Iterable[AuthCode]) -> list[str]:
    """``b2bua authcodes list``: no digits, no digests."""
    lines = [f"{'id':>4}  {'level':>5}  {'active':6}  {'classes':30}  description"]
    for c in codes:
        classes = ",".join(sorted(x.value for x in c.classes)) or "all"
        lines.append(f"{c.id:>4}  {c.level:>5}  {'yes' if c.active else 'no':6}  {classes:30}  {c.description}")
    return lines
