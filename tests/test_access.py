"""The rules file (RAG_ACCESS_FILE) and the reader: pattern matching, first match wins, defaults, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.access import EVERYONE, AccessFileError, AccessRules, Reader, matches


def rules(tmp_path: Path, text: str) -> AccessRules:
    path = tmp_path / "access.toml"
    path.write_text(text, encoding="utf-8")
    return AccessRules.load(path)


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("hr/policy.md", "hr/**", True),
        ("hr/2024/q1/pay.pdf", "hr/**", True),  # `**` spans folders
        ("hr", "hr/**", True),
        ("hrx/policy.md", "hr/**", False),  # a prefix of a folder name is not the folder
        ("eng/hr/policy.md", "hr/**", False),  # anchored at the ingested folder
        ("hr/policy.md", "hr/*.md", True),
        ("hr/old/policy.md", "hr/*.md", False),  # `*` stays within one folder
        ("deck.pdf", "*.pdf", True),
        ("board/2024/deck.pdf", "*.pdf", True),  # no `/` in the pattern: the file name, at any depth
        ("board/deck.pdf.md", "*.pdf", False),
        ("a/b.pdf", "a/**/*.pdf", True),  # `**/` also matches no folder at all
        ("a/x/y/b.pdf", "a/**/*.pdf", True),
        ("z/a/b.pdf", "a/**/*.pdf", False),
        ("notes/r1.md", "notes/r[0-9].md", True),
        ("notes/rx.md", "notes/r[!0-9].md", True),
        ("notes/r1.md", "notes/r[!0-9].md", False),
        ("notes/a?c.md", "notes/a?c.md", True),
        ("notes/a/c.md", "notes/a?c.md", False),  # `?` is never a folder separator
        ("Reports/Q1.MD", "reports/*.md", False),  # case matters, as on the file systems we index from
    ],
)
def test_patterns(path: str, pattern: str, expected: bool) -> None:
    assert matches(path, pattern) is expected


def test_first_match_wins_and_default_everyone(tmp_path: Path) -> None:
    r = rules(
        tmp_path,
        """
[[rules]]
path = "hr/public/**"
groups = ["everyone"]
[[rules]]
path = "hr/**"
groups = ["hr"]
[[rules]]
path = "shared/**"
groups = ["hr", "eng", "hr"]
""",
    )
    assert r.groups_for("hr/public/holidays.md") == (EVERYONE,)
    assert r.groups_for("hr/pay/bands.md") == ("hr",)
    assert r.groups_for("shared/handbook.md") == ("hr", "eng")  # de-duplicated, in order
    assert r.groups_for("readme.md") == (EVERYONE,)  # no rule names it: the default


def test_default_nobody_and_empty_groups_mean_admins_only(tmp_path: Path) -> None:
    r = rules(tmp_path, 'default = "nobody"\n[[rules]]\npath = "board/**"\ngroups = []\n')
    assert r.groups_for("anything.md") == ()
    assert r.groups_for("board/deck.pdf") == ()
    assert not Reader("ann", frozenset({"hr"})).may_read(())
    assert Reader.trusted().may_read(())


def test_no_file_means_everyone_reads_everything() -> None:
    assert AccessRules.load(None).groups_for("hr/pay.md") == (EVERYONE,)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('default = "somebody"', "default must be"),
        ("[[rules]]\ngroups = ['hr']", "needs a path pattern"),
        ("[[rules]]\npath = 'hr/**'\ngroups = 'hr,'", "non-empty string without commas"),
        ("[[rules]]\npath = 'hr/**'\ngroups = 3", "groups must be a list"),
        ("[[rules]]\npath = 'hr/**'\ngroups = [1]", "non-empty string"),
        ("rules = 'hr/**'", "rules must be an array of tables"),
        ("[[rules]\npath = ", "is not valid TOML"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(AccessFileError, match=says) as e:
        rules(tmp_path, text)
    assert "access.toml" in str(e.value)  # names the file


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AccessFileError, match="does not exist.*RAG_ACCESS_FILE"):
        AccessRules.load(tmp_path / "nope.toml")


def test_readers() -> None:
    ann = Reader("ann", frozenset({"hr", "finance"}))
    assert ann.allowed() == {"hr", "finance", EVERYONE}
    assert ann.may_read(("hr",)) and ann.may_read((EVERYONE,)) and not ann.may_read(("eng",))
    assert Reader.public().allowed() == {EVERYONE}
    assert Reader.public(admin=True).allowed() is None
    assert Reader.trusted().allowed() is None
