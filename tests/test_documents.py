from pathlib import Path

import pytest

from rag.ingest.loaders import LoadError, load
from tests.helpers import write_docx, write_pdf, write_pptx, write_xlsx

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


def test_docx_headings_become_markdown_structure(tmp_path: Path) -> None:
    p = write_docx(
        tmp_path / "plan.docx",
        "Energy plan",
        [("Gas", ["Serbia would import gas from Azerbaijan."]), ("Oil", ["Oil comes by pipeline."])],
    )
    doc = load(p, MB)
    assert doc.title == "Energy plan"
    assert doc.text == "# Gas\n\nSerbia would import gas from Azerbaijan.\n\n# Oil\n\nOil comes by pipeline."
    assert doc.page_starts == () and doc.page_label(0) is None


def test_pptx_slides_take_the_place_of_pages(tmp_path: Path) -> None:
    p = write_pptx(tmp_path / "deck.pptx", [("Agenda", "Budget and hiring"), ("Hiring", "Two engineers in May")])
    doc = load(p, MB)
    at = doc.text.index("Two engineers")
    assert doc.title == "Agenda"
    assert doc.position(at)[1] == 2 and doc.page_label(at) == "slide 2"
    assert doc.text.startswith("# Agenda\nBudget and hiring\n\n# Hiring")


def test_xlsx_sheets_take_the_place_of_pages(tmp_path: Path) -> None:
    p = write_xlsx(
        tmp_path / "budget.xlsx",
        {"Summary": [["item", "cost"], ["rent", 1200]], "Travel": [["trip", "cost"], ["Baku", 830.5]]},
    )
    doc = load(p, MB)
    at = doc.text.index("Baku")
    assert doc.page_label(at) == "sheet 'Travel'" and doc.page_label(0) == "sheet 'Summary'"
    assert "# Travel\ntrip | cost\nBaku | 830.5" in doc.text


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx"])
def test_broken_office_file_is_skipped_with_reason(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"broken{suffix}"
    p.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(LoadError, match=f"unreadable {suffix[1:].upper()} file"):
        load(p, MB)
