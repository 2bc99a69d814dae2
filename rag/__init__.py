"""seedrag: answers from your own documents, with citations you can check.

The public names, imported when first used (so `import rag` loads no model, database driver or web
framework):

    from rag import Settings, build
    pipe = build(Settings())
    answer = pipe.answerer.ask("...")      # an Answer; answer.citations are (number, Passage)

The stages, one subpackage each: ingest (files -> chunks), index (vectors, keywords, storage), retrieval,
answering, llm, eval; service.py is the one life of a question for every surface (docs/architecture.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answering.answerer import Answer
    from rag.config import Settings
    from rag.pipeline import Pipeline, build
    from rag.retrieval.retriever import Passage

__all__ = ["Answer", "Passage", "Pipeline", "Settings", "build"]

_WHERE = {
    "Answer": "rag.answering.answerer",
    "Passage": "rag.retrieval.retriever",
    "Pipeline": "rag.pipeline",
    "Settings": "rag.config",
    "build": "rag.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
