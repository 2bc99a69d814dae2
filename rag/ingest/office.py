"""Word, PowerPoint and Excel files as text, through python-docx, python-pptx and openpyxl.

Headings become Markdown headings, so the chunker's paragraph boundaries follow the document's structure.
A slide or a sheet plays the part of a PDF page: each gets a start offset and a label ("slide 4",
"sheet 'Budget'") that citations show.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any


class OfficeError(Exception):
    """The file is not a readable Office document; the message says why."""


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str | None
    date: str | None
    page_starts: tuple[int, ...] = ()
    page_labels: tuple[str, ...] = ()


def extract(suffix: str, data: bytes) -> Extracted:
    """Text of a .docx, .pptx or .xlsx file; OfficeError when the library cannot read it."""
    reader = {".docx": _docx, ".pptx": _pptx, ".xlsx": _xlsx}[suffix]
    try:
        return reader(io.BytesIO(data))
    # The three libraries report a damaged or foreign file with a zip, XML or key error of their own.
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, OSError) as e:
        kind = suffix.lstrip(".").upper()
        raise OfficeError(f"unreadable {kind} file ({type(e).__name__}: {e}); is it really {kind}?") from None


def _pages(parts: list[tuple[str, str]]) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    """Join (label, text) parts with blank lines; the start offset of each part."""
    starts, texts, labels, offset = [], [], [], 0
    for label, text in parts:
        starts.append(offset)
        texts.append(text)
        labels.append(label)
        offset += len(text) + 2
    return "\n\n".join(texts), tuple(starts), tuple(labels)


def _meta(props: Any) -> tuple[str | None, str | None]:
    title = (props.title or "").strip() or None
    when = props.created or props.modified
    return title, when.date().isoformat() if when else None


def _docx(stream: io.BytesIO) -> Extracted:
    import docx

    document = docx.Document(stream)
    blocks: list[str] = []
    first_heading = None
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        level = _heading_level(para.style.name if para.style is not None else "")
        if level:
            first_heading = first_heading or text
            text = "#" * level + " " + text
        blocks.append(text)
    for table in document.tables:  # after the body: python-docx keeps tables apart from paragraphs
        blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    title, date = _meta(document.core_properties)
    return Extracted("\n\n".join(blocks), title or first_heading, date)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.fullmatch(r"Heading (\d)", style)
    return min(int(m.group(1)), 6) if m else 0


def _pptx(stream: io.BytesIO) -> Extracted:
    from pptx import Presentation

    deck = Presentation(stream)
    parts = []
    first_title = None
    for number, slide in enumerate(deck.slides, start=1):
        heading = slide.shapes.title.text_frame.text.strip() if slide.shapes.title is not None else ""
        first_title = first_title or heading or None
        lines = [f"# {heading}"] if heading else []
        for shape in slide.shapes:
            if shape == slide.shapes.title or not shape.has_text_frame:
                continue
            lines += [p.text.strip() for p in shape.text_frame.paragraphs if p.text.strip()]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                lines.append(f"Notes: {notes}")
        # An empty slide still takes its number, so that slide 4 is always the fourth slide.
        parts.append((f"slide {number}", "\n".join(lines)))
    text, starts, labels = _pages(parts)
    title, date = _meta(deck.core_properties)
    return Extracted(text, title or first_title, date, starts, labels)


def _xlsx(stream: io.BytesIO) -> Extracted:
    from openpyxl import load_workbook

    # read_only streams rows instead of building every cell; data_only gives formulas' cached values.
    book = load_workbook(stream, read_only=True, data_only=True)
    try:
        parts = []
        for sheet in book.worksheets:
            rows = []
            for row in sheet.iter_rows(values_only=True):
                cells = ["" if v is None else str(v).strip() for v in row]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    rows.append(" | ".join(cells))
            parts.append((f"sheet '{sheet.title}'", "\n".join([f"# {sheet.title}", *rows])))
        title, date = _meta(book.properties)
    finally:
        book.close()
    text, starts, labels = _pages(parts)
    return Extracted(text, title, date, starts, labels)
