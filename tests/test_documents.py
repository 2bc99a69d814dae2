from pathlib import Path

import pytest

from rag.documents import LoadError, load
from tests.helpers import write_pdf

MB = 1_000_000


def test_markdown_title_and_date(tmp_path: Path) -> None:
    p = tmp_path / "notes.md"
    p.write_text("Published 2023-05-01\n\n# Gas deals\n\nSerbia buys gas.\n", encoding="utf-8")
    doc = load(p, MB)
    assert doc.title == "Gas deals"
    assert doc.date == "2023-05-01"
    assert doc.text.startswith("Published") and doc.source == str(p.resolve())


def test_html_text_title_and_meta_date(tmp_path: Path) -> None:
    p = tmp_path / "page.html"
    p.write_text(
        '<html><head><title>Energy news</title><meta name="date" content="2022-11-24T10:00"></head>'
        "<body><script>var x = 1;</script><h1>Gas</h1><p>Serbia would import gas.</p></body></html>",
        encoding="utf-8",
    )
    doc = load(p, MB)
    assert doc.title == "Energy news" and doc.date == "2022-11-24"
    assert "Serbia would import gas." in doc.text and "var x" not in doc.text


def test_pdf_pages_title_and_date(tmp_path: Path) -> None:
    p = write_pdf(tmp_path / "report.pdf", ["First page about gas", "Second page about oil"], title="Energy report")
    doc = load(p, MB)
    assert doc.title == "Energy report" and doc.date == "2024-03-15"
    assert "First page about gas" in doc.text and "Second page about oil" in doc.text
    oil = doc.text.index("Second page")
    assert doc.position(oil)[1] == 2 and doc.position(0)[1] == 1


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"   \n\n  ", "empty file"),
        ("binary.txt", b"\x00\x01\x02ELF" * 100, "binary content"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not valid UTF-8"),
        ("image.png", b"\x89PNG\r\n", "unsupported type"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
    ],
)
def test_bad_files_say_why(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load(p, MB)


def test_oversize_file(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_text("word " * 1000, encoding="utf-8")
    with pytest.raises(LoadError, match="too large"):
        load(p, 100)
