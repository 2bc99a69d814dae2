"""GET/POST /v1/documents (list, upload), DELETE /v1/documents/{id} and GET /v1/documents/{id}/original."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import get_ingest_limiter, get_pipeline, get_settings
from api.errors import APIError
from api.generation import reader_of
from api.metrics import Metrics, get_metrics
from api.schemas import (
    AUTH_ERROR,
    DocumentInfo,
    DocumentList,
    RemoveResponse,
    UploadResponse,
    error_example,
)
from rag.access import AccessFileError, Reader, group_names
from rag.config import Settings
from rag.index.keyword import document_id
from rag.ingest.uploads import Uploads
from rag.pipeline import Pipeline

router = APIRouter(prefix="/v1/documents", tags=["documents"])
_ID = re.compile(r"[0-9a-f]{16}")


def _uploads(pipe: Pipeline, settings: Settings) -> Uploads:
    return Uploads(pipe.originals, pipe.ingestor, settings.uploads_dir / ".staging")


def _source_of(pipe: Pipeline, document_id: str, reader: Reader) -> str | None:
    """The source of a document this reader may read; None for one that does not exist or that it may not read,
    alike, so that a 404 says nothing of documents outside the reader's groups."""
    # One indexed lookup in the manifest: never a pass over every document or chunk, which a caller asking for
    # ids that do not exist could repeat at will on the connection every question shares.
    source = pipe.keywords.source_of(document_id) if _ID.fullmatch(document_id) else None
    if source is None or reader.reads_all:
        return source
    record = pipe.keywords.record(source)
    return source if record is not None and reader.may_read(record.groups) else None


def _documents(pipe: Pipeline, reader: Reader) -> list[DocumentInfo]:
    return [
        DocumentInfo(
            id=document_id(r.source),
            source=r.source,
            name=Path(r.source).name,
            title=r.title,
            date=r.date,
            chunks=r.chunks,
            ingested_at=r.ingested_at,
            groups=list(r.groups) if reader.admin else None,
        )
        for r in pipe.keywords.records()
        if reader.may_read(r.groups)
    ]


@router.get(
    "",
    response_model=DocumentList,
    summary="List the indexed documents this key may read",
    description="Only the documents the caller's groups may read (RAG_KEYS_FILE); an admin key sees all of them "
    "and each one's `groups`.",
    responses=AUTH_ERROR,
)
async def list_documents(request: Request, pipe: Pipeline = Depends(get_pipeline)) -> dict[str, Any]:
    return {"documents": await run_in_threadpool(_documents, pipe, reader_of(request))}


@router.post(
    "",
    response_model=UploadResponse,
    summary="Upload files to index",
    description="multipart/form-data with one or more parts named `files` (.txt, .md, .html, .pdf, .docx, .pptx, "
    ".xlsx). Each is stored under the server's uploads folder (a file of the same name is replaced: a new version) and "
    "ingested. A `groups` field (comma-separated) says who may read them; without it, RAG_ACCESS_FILE does (by the "
    "file's name), or everyone. The status is 200 even when some files were skipped: each result says what happened "
    "and why.",
    responses={
        **AUTH_ERROR,
        400: error_example("bad_request", "no files: send multipart/form-data with parts named 'files'"),
        413: error_example(
            "too_large", "the request body is larger than the limit of 20.0 MB; raise RAG_MAX_UPLOAD_MB"
        ),
    },
)
async def upload_documents(
    request: Request,
    files: list[UploadFile] | None = File(None, description="the files to index"),
    groups: str | None = Form(
        None,
        description="comma-separated groups that may read these files (`everyone`: any caller); "
        "without it, as RAG_ACCESS_FILE says for the file's name (everyone, without a rules file)",
    ),
    pipe: Pipeline = Depends(get_pipeline),
    settings: Settings = Depends(get_settings),
    limiter: anyio.CapacityLimiter = Depends(get_ingest_limiter),
    metrics: Metrics = Depends(get_metrics),
) -> dict[str, Any]:
    if not files:
        raise APIError(400, "bad_request", "no files: send multipart/form-data with one or more parts named 'files'")
    readers = _groups(groups)
    uploads = _uploads(pipe, settings)
    pairs = [(f.filename or "upload", f.file) for f in files]
    # Files are read (parsed, in a worker process with time and memory limits) before the queue for the
    # writer: one slow file does not hold up other uploads and removals. Then one ingest at a time; waiting
    # uploads hold no worker thread, so questions keep flowing meanwhile.
    prepared = await anyio.to_thread.run_sync(uploads.prepare, pairs, readers)
    try:
        results = await anyio.to_thread.run_sync(uploads.commit, prepared, limiter=limiter)
    finally:
        uploads.discard(prepared)
    request.state.timings = {"files": len(results), "embedded": sum(r.embedded for r in results)}
    metrics.ingested_files(results)
    return {"results": [r.__dict__ for r in results]}


def _groups(field: str | None) -> tuple[str, ...] | None:
    """The upload's `groups` field as group names (None: as RAG_ACCESS_FILE says for the file's name, everyone
    without one); a 422 that says what is wrong with it."""
    if field is None or not field.strip():
        return None
    try:
        return group_names(field, "groups")
    except AccessFileError as e:
        raise APIError(422, "invalid_request", f"{e} (send e.g. groups=hr,finance)") from None


@router.delete(
    "/{document_id}",
    response_model=RemoveResponse,
    summary="Remove a document from the index",
    description="The id is the one GET /v1/documents lists. A document that was uploaded is deleted from the "
    "uploads folder too; other files are only dropped from the index.",
    responses={**AUTH_ERROR, 404: error_example("not_found", "no document with id 'ffff0000ffff0000'")},
)
async def delete_document(
    document_id: str,
    request: Request,
    pipe: Pipeline = Depends(get_pipeline),
    settings: Settings = Depends(get_settings),
    limiter: anyio.CapacityLimiter = Depends(get_ingest_limiter),
) -> dict[str, Any]:
    reader = reader_of(request)

    def remove() -> dict[str, Any] | None:
        source = _source_of(pipe, document_id, reader)
        if source is None:
            return None
        try:
            result = _uploads(pipe, settings).remove(source)
        except KeyError:  # removed by a concurrent call between the lookup and now
            return None
        return {"id": document_id, "source": source, "chunks": result.deleted}

    removed = await anyio.to_thread.run_sync(remove, limiter=limiter)
    if removed is None:
        raise APIError(404, "not_found", f"no document with id '{document_id}'; GET /v1/documents lists them")
    return {"removed": removed}


@router.get(
    "/{document_id}/original",
    summary="Download an uploaded document as it was sent",
    description="The bytes of an uploaded file, in the version the index holds: a citation's `text` is "
    "`original[start:end]` (for text files; for PDF and Office files, of the text extracted from it). Any replica "
    "serves it when the originals are kept in the shared database (RAG_DATABASE_URL). Documents ingested from a "
    "folder with `rag ingest` have no stored original: 404.",
    response_class=Response,
    responses={
        **AUTH_ERROR,
        200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"},
        404: error_example("not_found", "no uploaded original for document 'ffff0000ffff0000'"),
    },
)
async def download_original(document_id: str, request: Request, pipe: Pipeline = Depends(get_pipeline)) -> Response:
    reader = reader_of(request)

    def read() -> tuple[str, bytes] | None:
        source = _source_of(pipe, document_id, reader)
        record = pipe.keywords.record(source) if source is not None else None
        if source is None or record is None or not reader.may_read(record.groups):
            return None
        data = pipe.originals.read(source, record.sha256)
        return (source, data) if data is not None else None

    found = await run_in_threadpool(read)
    if found is None:
        message = f"no uploaded original for document '{document_id}'; GET /v1/documents lists the documents"
        raise APIError(404, "not_found", message)
    source, data = found
    name = Path(source).name
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # The name was made safe at upload (no quotes, no control characters); filename* carries any other letter.
    disposition = f"attachment; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=media, headers={"Content-Disposition": disposition})
