"""A corpus of hostile and careless files, generated (no binaries checked in): `python -m tests.hostile_files DIR`.

Each file is what an attacker or an unlucky export could put in a team's folder. `make()` says, per name, whether it
must be indexed or skipped under the limits of tests/test_hostile.py (RAG_MAX_PARSE_SECONDS=2, RAG_MAX_TEXT_MB=5,
RAG_MAX_PARSE_MEMORY_MB=512); with the defaults (30 s, 20 MB) nested.html and big-text.md are indexed.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path


def pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered object bodies (object i+1 = objects[i]), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def stream(data: bytes, compress: bool = True, extra: bytes = b"") -> bytes:
    body = zlib.compress(data, 9) if compress else data
    flt = b" /Filter /FlateDecode" if compress else b""
    return b"<< /Length %d%s%s >>\nstream\n" % (len(body), flt, extra) + body + b"\nendstream"


def pages_pdf(contents: list[int], streams: list[bytes]) -> bytes:
    """Pages whose content is the stream object given by number (several pages may share one)."""
    n_pages = len(contents)
    first_stream = 4 + n_pages  # 1 catalog, 2 pages, 3 font, then the pages, then the streams
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(n_pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n_pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for c in contents:
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (first_stream + c)
        )
    objects.extend(streams)
    return pdf(objects)


def text_ops(line: str, lines: int) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td " + b" ".join(b"(%s) Tj T*" % line.encode() for _ in range(lines)) + b" ET"


def good_pdf() -> bytes:
    return pages_pdf([0], [stream(text_ops("Serbia would import gas from Azerbaijan.", 3))])


def flate_bomb() -> bytes:
    """~80 KB that inflate to ~80 MB: pypdf refuses it with LimitReachedError."""
    return pages_pdf([0], [stream(b" " * 80_000_000)])


def nested_arrays() -> bytes:
    """50,000 nested '[' in a page's content: RecursionError inside pypdf's parser."""
    return pages_pdf([0], [stream(b"BT " + b"[" * 50_000 + b"]" * 50_000 + b" TJ ET")])


def shared_stream(pages: int = 400, ops: int = 20_000) -> bytes:
    """A few KB: every page shows the same compressed stream of many text operations; each costs CPU."""
    return pages_pdf([0] * pages, [stream(text_ops("x", ops))])


def nested_html(depth: int = 100_000) -> bytes:
    return b"<html><body>" + b"<p><b>" * depth + b"deep" + b"</b></p>" * depth + b"</body></html>"


FILES = {
    "good.md": (b"# Gas\n\nSerbia would import gas from Azerbaijan.\n", "indexed"),
    "good.pdf": (None, "indexed"),
    "flate-bomb.pdf": (None, "skipped"),
    "nested-arrays.pdf": (None, "skipped"),
    "shared-stream.pdf": (None, "skipped"),
    "big-text.md": (b"All work and no play makes Jack a dull boy.\n" * 140_000, "skipped"),
    "nested.html": (None, "skipped"),
    "truncated.pdf": (None, "skipped"),
    "garbage.pdf": (b"%PDF-1.4\n" + bytes(range(256)) * 40, "skipped"),
    "not-a-pdf.pdf": (b"just some text pretending\n", "skipped"),
    "empty.txt": (b"", "skipped"),
    "blank.md": (b" \n\t\n", "skipped"),
    "binary.txt": (b"\x00\x01\x02ELF" * 100, "skipped"),
    "latin1.txt": ("caf\xe9 au lait".encode("latin-1"), "skipped"),
    "one-long-word.txt": (b"a" * 50_000, "indexed"),
    "\u202etxt.md": (b"A bidi-override name; the text is fine.\n", "indexed"),
    "script.html": (
        b"<html><head><title>x</title><script>alert(1)</script></head><body><p>Plain words.</p></body></html>",
        "indexed",
    ),
    "archive.zip": (b"PK\x03\x04" + b"\x00" * 100, "skipped"),
}


def make(folder: Path) -> dict[str, str]:
    """Write the corpus into folder; {file name: 'indexed' | 'skipped'}."""
    folder.mkdir(parents=True, exist_ok=True)
    built = {
        "good.pdf": good_pdf,
        "flate-bomb.pdf": flate_bomb,
        "nested-arrays.pdf": nested_arrays,
        "shared-stream.pdf": shared_stream,
        "nested.html": nested_html,
        "truncated.pdf": lambda: good_pdf()[:200],
    }
    expected = {}
    for name, (data, outcome) in FILES.items():
        (folder / name).write_bytes(data if data is not None else built[name]())
        expected[name] = outcome
    return expected


if __name__ == "__main__":
    for name, outcome in make(Path(sys.argv[1])).items():
        print(f"{outcome:8} {name}")
