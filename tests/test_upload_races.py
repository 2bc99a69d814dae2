"""Uploads read before the writer lock and committed after another writer changed the index (issue 19, 1).

An upload is read (and its bytes compared with the manifest) outside the writer lock, so that a slow file
holds up nobody; whatever a removal or another version did meanwhile, the commit must leave the index, the
stored original and the answer given to the admin in agreement."""

from __future__ import annotations

import io

from rag.ingest.uploads import Uploads
from rag.pipeline import Pipeline

V1 = b"# Leave policy\n\nStaff get 25 days of paid leave a year, taken in agreement with their manager.\n"
V2 = V1 + b"\nUnused days may be carried over to the first quarter of the next year.\n"


def uploads_of(pipe: Pipeline) -> Uploads:
    return Uploads(pipe.originals, pipe.ingestor, pipe.settings.uploads_dir / ".staging")


def send(up: Uploads, data: bytes) -> str:
    (result,) = up.add([("leave.md", io.BytesIO(data))])
    return result.status


def test_an_unchanged_upload_queued_behind_a_removal_is_indexed_again(pipeline: Pipeline) -> None:
    up = uploads_of(pipeline)
    assert send(up, V1) == "added"
    source = pipeline.originals.source("leave.md")
    prepared = up.prepare([("leave.md", io.BytesIO(V1))])  # read: the manifest holds these bytes
    up.remove(source)  # a DELETE that held the lock first
    try:
        (result,) = up.commit(prepared)
    finally:
        up.discard(prepared)
    assert result.status == "added"
    record = pipeline.keywords.record(source)
    assert record is not None and record.chunks == result.chunks > 0
    assert pipeline.originals.read(source, record.sha256) == V1


def test_an_unchanged_upload_queued_behind_another_version_puts_its_own_back(pipeline: Pipeline) -> None:
    up = uploads_of(pipeline)
    assert send(up, V1) == "added"
    source = pipeline.originals.source("leave.md")
    prepared = up.prepare([("leave.md", io.BytesIO(V1))])
    assert send(up, V2) == "updated"  # v2 committed first
    try:
        (result,) = up.commit(prepared)
    finally:
        up.discard(prepared)
    assert result.status == "updated"  # not "unchanged": the index held v2 when v1 was committed
    record = pipeline.keywords.record(source)
    assert record is not None
    assert pipeline.originals.read(source, record.sha256) == V1  # index and stored original agree
    texts = pipeline.keywords.texts(sorted(pipeline.keywords.chunk_ids(source)))
    assert not any("carried over" in t for t in texts.values())
