"""Load files into Documents: text, source, title, date. Reasons for skipping a file are data, not crashes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".docx", ".pptx", ".xlsx"}
OFFICE = {".docx", ".pptx", ".xlsx"}
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


@dataclass(frozen=True)
class Document:
    source: str  # absolute path: the document's identity in the index
    text: str
    title: str
    date: str | None = None
    sha256: str = ""
    page_starts: tuple[int, ...] = field(default=())  # PDF: character offset where each page begins
    # Slides and sheets: what to call each page in a citation ("slide 4"); empty = "page N".
    page_labels: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return Path(self.source).name

    def position(self, start: int) -> tuple[int, int | None]:
        """(line, page) of a character offset; page is None for documents without pages."""
        line = self.text.count("\n", 0, start) + 1
        page = None
        if self.page_starts:
            page = sum(1 for p in self.page_starts if p <= start)
        return line, page

    def page_label(self, start: int) -> str | None:
        """'slide 4' or "sheet 'Budget'" for a character offset in a deck or workbook; None otherwise."""
        _, page = self.position(start)
        return self.page_labels[page - 1] if page and self.page_labels else None


class LoadError(Exception):
    """A file that cannot be indexed; the message is the reason shown to the user."""


def walk(paths: list[Path]) -> Iterator[Path]:
    """Files under the given paths, recursively, sorted; hidden files and folders are left out."""
    for path in paths:
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path)
                if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield p
        else:
            yield path


def load(path: Path, max_bytes: int, max_text_chars: int | None = None, source: str | None = None) -> Document:
    """Read one file. Raises LoadError with the reason when it cannot be indexed.

    `source` is the path the document will be known by, when the bytes are read from elsewhere (an upload
    waiting in the staging folder); its suffix and stem give the type and the fallback title."""
    if not path.exists():
        raise LoadError("no such file")
    known_as = Path(source) if source else path.resolve()
    suffix = known_as.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported type '{suffix or known_as.name}' (supported: {', '.join(sorted(SUPPORTED))})")
    size = path.stat().st_size
    if size > max_bytes:
        raise LoadError(f"too large: {size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB (RAG_MAX_FILE_MB)")
    data = path.read_bytes()
    if not data.strip():
        raise LoadError("empty file")
    labels: tuple[str, ...] = ()
    if suffix == ".pdf":
        text, title, date, pages = _pdf(data, max_text_chars)
    elif suffix in OFFICE:
        text, title, date, pages, labels = _office(suffix, data)
    else:
        if b"\x00" in data[:8192]:
            raise LoadError("binary content (NUL bytes) in a text file")
        try:
            raw = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise LoadError(f"not valid UTF-8 (byte {e.start}): convert it to UTF-8 first") from None
        pages = ()
        if suffix in {".html", ".htm"}:
            text, title, date = _html(raw)
        else:
            text, title, date = raw, _text_title(raw, suffix), None
    if max_text_chars is not None and len(text) > max_text_chars:
        raise LoadError(text_too_large(len(text), max_text_chars))
    if not text.strip():
        raise LoadError("no text could be extracted" + (" (a scanned PDF needs OCR first)" if suffix == ".pdf" else ""))
    date = date or _first_date(text)
    return Document(
        source=str(known_as),
        text=text,
        title=title or known_as.stem,
        date=date,
        sha256=hashlib.sha256(data).hexdigest(),
        page_starts=pages,
        page_labels=labels,
    )


def text_too_large(chars: int, limit: int) -> str:
    return f"too much text: {chars / 1e6:.1f} M characters > limit {limit / 1e6:.1f} M (RAG_MAX_TEXT_MB)"


def _text_title(text: str, suffix: str) -> str | None:
    if suffix in {".md", ".markdown"}:
        m = re.search(r"^#\s+(.+)$", text, re.M)
        if m:
            return m.group(1).strip()
    return None


def _first_date(text: str) -> str | None:
    # Only near the top: a date in the body is usually about something else.
    m = _DATE.search(text[:300])
    return m.group(0) if m else None


def _html(raw: str) -> tuple[str, str | None, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else None
    date = None
    for key, value in (("property", "article:published_time"), ("name", "date"), ("name", "dcterms.date")):
        meta = soup.find("meta", attrs={key: value})
        if meta and meta.get("content"):
            m = _DATE.search(str(meta["content"]))
            date = m.group(0) if m else None
            break
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    text = soup.get_text("\n")
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, title, date


def _office(suffix: str, data: bytes) -> tuple[str, str | None, str | None, tuple[int, ...], tuple[str, ...]]:
    from rag.ingest.office import OfficeError, extract

    try:
        got = extract(suffix, data)
    except OfficeError as e:
        raise LoadError(str(e)) from None
    return got.text, got.title, got.date, got.page_starts, got.page_labels


def _pdf(data: bytes, max_text_chars: int | None) -> tuple[str, str | None, str | None, tuple[int, ...]]:
    import io

    from pypdf import PdfReader

    # Any failure inside pypdf (its own errors, a decompression bomb's LimitReachedError, RecursionError on
    # nested arrays, ...) means this file cannot be read; it must never end the whole ingest.
    try:
        reader = PdfReader(io.BytesIO(data))
        texts: list[str] = []
        total = 0
        for page in reader.pages:
            texts.append((page.extract_text() or "").strip())
            total += len(texts[-1])
            if max_text_chars is not None and total > max_text_chars:  # stop extracting: it is refused anyway
                raise LoadError(text_too_large(total, max_text_chars))
        meta = reader.metadata
        title = str(meta.title).strip() if meta and meta.title else None
        date = meta.creation_date.date().isoformat() if meta and meta.creation_date else None
    except LoadError:
        raise
    except MemoryError:
        raise
    except (Exception, RecursionError) as e:
        raise LoadError(f"unreadable PDF ({type(e).__name__}: {str(e)[:200]})") from None
    starts, parts, offset = [], [], 0
    for t in texts:
        starts.append(offset)
        parts.append(t)
        offset += len(t) + 2
    return "\n\n".join(parts), title, date, tuple(starts)
