"""GET/POST /v1/documents (list, upload) and DELETE /v1/documents/{id}."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, File, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import get_ingest_limiter, get_pipeline, get_settings
from api.errors import APIError
from api.metrics import Metrics, get_metrics
from api.schemas import (
    AUTH_ERROR,
    DocumentInfo,
    DocumentList,
    RemoveResponse,
    UploadResponse,
    error_example,
)
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.uploads import Uploads

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def doc_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _documents(pipe: Pipeline) -> list[DocumentInfo]:
    return [
        DocumentInfo(
            id=doc_id(r.source),
            source=r.source,
            name=Path(r.source).name,
            title=r.title,
            date=r.date,
            chunks=r.chunks,
            ingested_at=r.ingested_at,
        )
        for r in pipe.keywords.records()
    ]


@router.get("", response_model=DocumentList, summary="List the indexed documents", responses=AUTH_ERROR)
async def list_documents(pipe: Pipeline = Depends(get_pipeline)) -> dict[str, Any]:
    return {"documents": await run_in_threadpool(_documents, pipe)}


@router.post(
    "",
    response_model=UploadResponse,
    summary="Upload files to index",
    description="multipart/form-data with one or more parts named `files` (.txt, .md, .html, .pdf, .docx, .pptx, "
    ".xlsx). Each is stored under the server's uploads folder (a file of the same name is replaced: a new version) and "
    "ingested. The status is 200 even when some files were skipped: each result says what happened and why.",
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
    pipe: Pipeline = Depends(get_pipeline),
    settings: Settings = Depends(get_settings),
    limiter: anyio.CapacityLimiter = Depends(get_ingest_limiter),
    metrics: Metrics = Depends(get_metrics),
) -> dict[str, Any]:
    if not files:
        raise APIError(400, "bad_request", "no files: send multipart/form-data with one or more parts named 'files'")
    uploads = Uploads(settings.uploads_dir, pipe.ingestor)
    pairs = [(f.filename or "upload", f.file) for f in files]
    # Files are read (parsed, in a worker process with time and memory limits) before the queue for the
    # writer: one slow file does not hold up other uploads and removals. Then one ingest at a time; waiting
    # uploads hold no worker thread, so questions keep flowing meanwhile.
    prepared = await anyio.to_thread.run_sync(uploads.prepare, pairs)
    try:
        results = await anyio.to_thread.run_sync(uploads.commit, prepared, limiter=limiter)
    finally:
        uploads.discard(prepared)
    request.state.timings = {"files": len(results), "embedded": sum(r.embedded for r in results)}
    metrics.ingested_files(results)
    return {"results": [r.__dict__ for r in results]}


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
    pipe: Pipeline = Depends(get_pipeline),
    settings: Settings = Depends(get_settings),
    limiter: anyio.CapacityLimiter = Depends(get_ingest_limiter),
) -> dict[str, Any]:
    def remove() -> dict[str, Any] | None:
        known = {r.source for r in pipe.keywords.records()} | pipe.keywords.sources_with_chunks()
        source = next((s for s in known if doc_id(s) == document_id), None)
        if source is None:
            return None
        try:
            result = Uploads(settings.uploads_dir, pipe.ingestor).remove(source)
        except KeyError:  # removed by a concurrent call between the lookup and now
            return None
        return {"id": document_id, "source": source, "chunks": result.deleted}

    removed = await anyio.to_thread.run_sync(remove, limiter=limiter)
    if removed is None:
        raise APIError(404, "not_found", f"no document with id '{document_id}'; GET /v1/documents lists them")
    return {"removed": removed}
