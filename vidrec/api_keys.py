"""API keys: who may call the API, with which role. `vidrec keys add|list|revoke` writes them; the API reads them.

A key is ``vidrec_`` + 32 random bytes (URL-safe base64), shown once when it is made; the keys file
(``VIDREC_API_KEYS_FILE``, data_dir/api_keys.json, mode 0600) keeps only its SHA-256, its name, its role and
when it was made. A random key of 256 bits needs no slow hash: guessing it is hopeless, and a stolen file
gives no key. ``KeyRing`` is the API's view of the file: it re-reads it when its modification time or size
changes (looked at most once a second), so added and revoked keys take effect without a restart, and it
compares a presented key's hash with every stored hash in constant time.

Roles: ``reader`` (the recommendation routes), ``writer`` (posting events), ``admin`` (everything).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path

ROLES = ("reader", "writer", "admin")
PREFIX = "vidrec_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class KeyProblem(ValueError):
    """A key cannot be added or revoked (bad name or role, a name taken, no such name)."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load(path: Path) -> dict[str, dict]:
    """name -> {"sha256", "role", "created_at"}; {} when the file does not exist."""
    try:
        return json.loads(Path(path).read_text())["keys"]
    except FileNotFoundError:
        return {}


def _save(path: Path, keys: dict[str, dict]) -> None:
    """Write the file whole, then rename it over the old one (readers see the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"keys": keys}, out, indent=1, sort_keys=True)
    os.replace(tmp, path)


def add(path: Path, name: str, role: str) -> str:
    """Make a key for ``name`` with ``role``; returns the key (the only time it is ever seen)."""
    if not NAME.match(name):
        raise KeyProblem(f"key name {name!r}: 1-64 letters, digits, '_', '.', '-', starting with a letter or digit")
    if role not in ROLES:
        raise KeyProblem(f"role {role!r}: one of {', '.join(ROLES)}")
    keys = load(path)
    if name in keys:
        raise KeyProblem(f"a key named {name!r} exists: revoke it first, or pick another name")
    key = PREFIX + secrets.token_urlsafe(32)
    keys[name] = {"sha256": digest(key), "role": role,
                  "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    _save(path, keys)
    return key


def revoke(path: Path, name: str) -> dict:
    keys = load(path)
    if name not in keys:
        raise KeyProblem(f"no key named {name!r} (`vidrec keys list` shows them)")
    gone = keys.pop(name)
    _save(path, keys)
    return {"revoked": name, "role": gone["role"]}


def listing(path: Path) -> list[dict]:
    """Names, roles and dates, never the hashes."""
    return [{"name": n, "role": k["role"], "created_at": k["created_at"]} for n, k in sorted(load(path).items())]


class KeyRing:
    """The API's keys, re-read when the file changes (checked at most every ``check_s`` seconds)."""

    def __init__(self, path: Path, check_s: float = 1.0):
        self.path, self.check_s = Path(path), check_s
        self._stamp: tuple | None = None
        self._next_check = 0.0
        self._keys: list[tuple[bytes, str, str]] = []  # (sha256 digest, name, role)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.check_s
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._keys = [(bytes.fromhex(k["sha256"]), n, k["role"]) for n, k in load(self.path).items()]
            self._stamp = stamp

    def empty(self) -> bool:
        self._refresh()
        return not self._keys

    def lookup(self, key: str) -> tuple[str, str] | None:
        """(name, role) of ``key``, or None. Every stored hash is compared, each in constant time."""
        self._refresh()
        presented, found = hashlib.sha256(key.encode()).digest(), None
        for stored, name, role in self._keys:
            if hmac.compare_digest(presented, stored):
                found = (name, role)
        return found
