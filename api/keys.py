"""Who a caller is: API keys and the reader each one acts for, from RAG_KEYS_FILE and RAG_API_KEYS / RAG_ADMIN_KEYS,
and the Slack users and user groups mapped to groups in the same file.

RAG_KEYS_FILE (TOML):

    [[keys]]
    key = "k-ann"
    user = "ann"
    groups = ["hr"]
    admin = false

    [[slack]]
    user = "U0123ABCD"          # a Slack user id, or
    usergroup = "S0123ABCD"     # a Slack user group id (its members, asked of Slack)
    groups = ["hr"]

Read once at start-up: a changed file takes effect on restart. A fault names the file and the entry, never a key.
"""

from __future__ import annotations

import hmac
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.access import EVERYONE, AccessFileError, Reader, group_names
from rag.config import Settings

KEY_FIELDS = {"key", "user", "groups", "admin"}
SLACK_FIELDS = {"user", "usergroup", "groups"}


@dataclass(frozen=True)
class KeyEntry:
    key: str
    reader: Reader
    # True for a key of the keys file, whose reader names a person; a RAG_API_KEYS key names no one.
    named: bool = True


@dataclass(frozen=True)
class SlackEntry:
    """Slack users (one user id, or the members of a user group) and the groups they read."""

    groups: tuple[str, ...]
    user: str | None = None
    usergroup: str | None = None


@dataclass(frozen=True)
class Keys:
    """Every key the server accepts and the reader it grants; the Slack mapping beside them."""

    entries: tuple[KeyEntry, ...] = ()
    slack: tuple[SlackEntry, ...] = ()

    @property
    def has_keys(self) -> bool:
        """False: no key at all, the loopback mode where the one local user may do everything."""
        return bool(self.entries)

    def reader_for(self, token: str) -> KeyEntry | None:
        """The entry of this key, or None. Compared with every key, never stopping at the first match, so the time
        taken says nothing about which key (or how much of one) matched."""
        found = None
        given = token.encode()
        for entry in self.entries:
            if hmac.compare_digest(given, entry.key.encode()) and found is None:
                found = entry
        return found

    @classmethod
    def load(cls, settings: Settings) -> Keys:
        """The keys of RAG_API_KEYS, RAG_ADMIN_KEYS and RAG_KEYS_FILE; AccessFileError for a file that is wrong."""
        entries = [KeyEntry(k, Reader.public("api-key", admin=True), named=False) for k in settings.admin_key_list]
        entries += [KeyEntry(k, Reader.public("api-key"), named=False) for k in settings.api_key_list]
        slack: list[SlackEntry] = []
        if settings.keys_file is not None:
            from_file, slack = read_keys_file(Path(settings.keys_file))
            seen = {e.key for e in entries}
            for entry in from_file:
                if entry.key in seen:
                    raise AccessFileError(
                        f"{settings.keys_file}: the key of user '{entry.reader.user}' is also in RAG_API_KEYS or "
                        "RAG_ADMIN_KEYS; a key may grant one reader only: remove it from one of them"
                    )
            entries += from_file
        return cls(tuple(entries), tuple(slack))


def _table(data: dict[str, Any], name: str, path: Path) -> list[dict[str, Any]]:
    tables = data.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise AccessFileError(f"{path}: '{name}' must be a list of tables, written [[{name}]]")
    return tables


def read_keys_file(path: Path) -> tuple[list[KeyEntry], list[SlackEntry]]:
    """The [[keys]] and [[slack]] entries of a keys file, checked: AccessFileError names the file and the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise AccessFileError(f"keys file {path} does not exist (RAG_KEYS_FILE)") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AccessFileError(f"keys file {path} is not valid TOML: {e}") from e
    unknown = set(data) - {"keys", "slack"}
    if unknown:
        raise AccessFileError(f"{path}: unknown section(s) {sorted(unknown)}; a keys file holds [[keys]] and [[slack]]")
    entries: list[KeyEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(_table(data, "keys", path), start=1):
        user = raw.get("user")
        where = f"{path}: [[keys]] entry {i}" + (f" (user '{user}')" if isinstance(user, str) else "")
        if set(raw) - KEY_FIELDS:
            extra = sorted(set(raw) - KEY_FIELDS)
            raise AccessFileError(f"{where}: unknown field(s) {extra}; use {sorted(KEY_FIELDS)}")
        key = raw.get("key")
        if not isinstance(key, str) or not key.strip() or key != key.strip() or "," in key:
            raise AccessFileError(f"{where}: 'key' must be a non-empty string without spaces around it or commas")
        if key in seen:
            raise AccessFileError(f"{where}: the same key is given to an earlier entry; each key names one reader")
        seen.add(key)
        if not isinstance(user, str) or not user.strip():
            raise AccessFileError(f"{where}: 'user' must be a non-empty name (it is recorded with questions and votes)")
        admin = raw.get("admin", False)
        if not isinstance(admin, bool):
            raise AccessFileError(f"{where}: 'admin' must be true or false, got {admin!r}")
        groups = group_names(raw.get("groups", []), where)
        reader = Reader(user.strip(), frozenset({*groups, EVERYONE}), admin=admin, reads_all=admin)
        entries.append(KeyEntry(key, reader))
    slack: list[SlackEntry] = []
    for i, raw in enumerate(_table(data, "slack", path), start=1):
        where = f"{path}: [[slack]] entry {i}"
        if set(raw) - SLACK_FIELDS:
            raise AccessFileError(
                f"{where}: unknown field(s) {sorted(set(raw) - SLACK_FIELDS)}; use {sorted(SLACK_FIELDS)}"
            )
        user, usergroup = raw.get("user"), raw.get("usergroup")
        if (user is None) == (usergroup is None):
            raise AccessFileError(f"{where}: give exactly one of 'user' (a Slack user id, U...) or 'usergroup' (S...)")
        ident = user if user is not None else usergroup
        if not isinstance(ident, str) or not ident.strip() or not ident.strip().isalnum():
            raise AccessFileError(f"{where}: {ident!r} is not a Slack id (letters and digits, e.g. U0123ABCD)")
        if "groups" not in raw:
            raise AccessFileError(f"{where}: 'groups' is missing: the groups whose documents {ident} may read")
        groups = group_names(raw["groups"], f"{where} ({ident})")
        slack.append(
            SlackEntry(groups, user=user.strip() if user else None, usergroup=usergroup.strip() if usergroup else None)
        )
    return entries, slack
