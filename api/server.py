"""`rag serve`: the local LLM (when no server is configured), then the API under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from api.keys import Keys
from rag.access import AccessFileError
from rag.config import Settings, public_url
from rag.llm.local import local_model

log = logging.getLogger("api")


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    from api.app import create_app

    host = host or settings.host
    port = port or settings.port
    logging.getLogger().setLevel(logging.INFO)
    try:
        keys = Keys.load(settings)
    except AccessFileError as e:
        log.error("%s", e)
        return 2
    if not keys.has_keys:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            log.error(
                "refusing to listen on %s without API keys: set RAG_API_KEYS / RAG_ADMIN_KEYS / RAG_KEYS_FILE or "
                "listen on 127.0.0.1",
                host,
            )
            return 2
        log.warning("no API keys configured (RAG_API_KEYS): listening on loopback %s only", host)
    if not settings.uses_local_llm:
        where = public_url(settings.llm_base_url) if settings.llm_base_url else "OpenAI"
        log.info("LLM: %s (model %s)", where, settings.llm_model or "default")
    with local_model(settings):
        app = create_app(settings)
        log.info("serving on http://%s:%d (chat page at /, API docs at /docs)", host, port)
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    return 0
