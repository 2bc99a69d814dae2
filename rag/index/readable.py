"""The document manifest as a reader sees it: documents it may not read are not there at all.

For the listing, a lookup by id and the originals (rag/access.py says who may read what). A document another
reader may not see answers exactly as one that does not exist: the same None, so nothing tells them apart.
"""

from __future__ import annotations

from rag.access import Reader
from rag.index.keyword import DocumentRecord, KeywordStore


def readable_records(keywords: KeywordStore, reader: Reader) -> list[DocumentRecord]:
    """The recorded documents this reader may read, in the manifest's order."""
    return [r for r in keywords.records() if reader.may_read(r.groups)]


def readable_record(keywords: KeywordStore, reader: Reader, source: str) -> DocumentRecord | None:
    """The document's record if it is recorded and this reader may read it; else None."""
    record = keywords.record(source)
    return record if record is not None and reader.may_read(record.groups) else None


def readable_source(keywords: KeywordStore, reader: Reader, document_id: str) -> str | None:
    """The source of the document with this API id, if this reader may read it; else None, as for no document."""
    source = keywords.source_of(document_id)
    if source is None:
        return None
    return source if readable_record(keywords, reader, source) is not None else None
