"""Who may read what: the groups a document is readable by, and the reader a request acts for.

A document carries a tuple of group names; the name `everyone` makes it public. A reader carries the
groups it belongs to (always including `everyone`) or reads all (admins, the CLI, loopback mode without
keys). Retrieval filters with `Reader.allowed()` inside the search (rag/retrieval/retriever.py), never after.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

EVERYONE = "everyone"
NOBODY = "nobody"


class AccessFileError(ValueError):
    """A rules or keys file that cannot be read; the message names the file and the fault."""


def group_names(values: object, where: str) -> tuple[str, ...]:
    """Validated, de-duplicated group names, in order: lists of non-empty strings without commas."""
    if isinstance(values, str):
        values = [v for v in values.split(",")]
    if not isinstance(values, list):
        raise AccessFileError(f"{where}: groups must be a list of names, got {type(values).__name__}")
    out: list[str] = []
    for v in values:
        name = str(v).strip() if isinstance(v, str) else None
        if not name or "," in name:
            raise AccessFileError(f"{where}: group name {v!r} must be a non-empty string without commas")
        if name not in out:
            out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class Reader:
    """The caller a question, listing or download acts for."""

    user: str
    groups: frozenset[str] = frozenset()
    admin: bool = False
    # True for readers that see every document whatever its groups: admins, the CLI, loopback without keys.
    reads_all: bool = False

    @classmethod
    def trusted(cls, user: str = "local") -> Reader:
        """The CLI, and a server without keys on loopback: one trusted local user who may do everything."""
        return cls(user=user, groups=frozenset({EVERYONE}), admin=True, reads_all=True)

    @classmethod
    def public(cls, user: str = "anonymous", admin: bool = False) -> Reader:
        """A key from RAG_API_KEYS: documents readable by everyone only (RAG_ADMIN_KEYS: admin, reads all)."""
        return cls(user=user, groups=frozenset({EVERYONE}), admin=admin, reads_all=admin)

    def allowed(self) -> frozenset[str] | None:
        """The groups whose documents this reader may read; None means every document (no filter)."""
        return None if self.reads_all else self.groups | {EVERYONE}

    def may_read(self, groups: tuple[str, ...] | list[str]) -> bool:
        allowed = self.allowed()
        return allowed is None or any(g in allowed for g in groups)


@dataclass(frozen=True)
class Rule:
    pattern: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class AccessRules:
    """RAG_ACCESS_FILE: patterns relative to the ingested folder, the first match wins; `default` for the rest."""

    default: tuple[str, ...] = (EVERYONE,)
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, path: Path | None) -> AccessRules:
        """The rules in a TOML file; no file means every document is readable by everyone."""
        if path is None:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise AccessFileError(f"access rules file {path} does not exist (RAG_ACCESS_FILE)") from e
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise AccessFileError(f"access rules file {path} is not valid TOML: {e}") from e
        default = data.get("default", EVERYONE)
        if default not in (EVERYONE, NOBODY):
            raise AccessFileError(f'{path}: default must be "{EVERYONE}" or "{NOBODY}", got {default!r}')
        if not isinstance(data.get("rules", []), list):
            raise AccessFileError(f"{path}: rules must be an array of tables ([[rules]] with path and groups)")
        rules = []
        for i, raw in enumerate(data.get("rules", []), start=1):
            where = f"{path}: rule {i}"
            if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or not raw["path"].strip():
                raise AccessFileError(f'{where} needs a path pattern, e.g. path = "hr/**"')
            rules.append(Rule(raw["path"].strip().lstrip("/"), group_names(raw.get("groups", []), where)))
        return cls(default=(EVERYONE,) if default == EVERYONE else (), rules=tuple(rules))

    def groups_for(self, relative: str) -> tuple[str, ...]:
        """The groups that may read the document at this path (relative to the ingested folder, `/`-separated).
        An empty tuple: nobody but readers who read all (admins)."""
        path = PurePosixPath(relative).as_posix()
        for rule in self.rules:
            if matches(path, rule.pattern):
                return rule.groups
        return self.default


def matches(path: str, pattern: str) -> bool:
    """Glob match as in .gitignore: `**` spans folders, `*` and `?` stay within one (`hr/**` matches
    `hr/a/b.md`, `hr/*.md` does not); a pattern without `/` matches the file name at any depth (`*.pdf`)."""
    if "/" not in pattern:
        return _compiled(pattern).fullmatch(PurePosixPath(path).name) is not None
    return _compiled(pattern).fullmatch(path) is not None


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(_translate(pattern))
    return _CACHE[pattern]


def _translate(pattern: str) -> str:
    """A glob as a regular expression over `/`-separated paths."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):  # any folders, or none: `a/**/b` matches `a/b`
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == n:  # the folder itself and everything under it
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = (body[1:] if negate else body).replace("\\", "\\\\")  # ranges (a-z) kept as they are
            out.append(("[^/" if negate else "[") + body + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)
