"""Request and response shapes of the HTTP API (kept apart from the pipeline's own dataclasses).

The examples are real: taken from the seed article in seeds/, so /docs shows what a client will see.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

_SEED = "/srv/seedrag/seeds/000_e525b34afe8532cd.txt"
_PASSAGE: dict[str, Any] = {
    "id": 2,
    "source": _SEED,
    "name": "000_e525b34afe8532cd.txt",
    "title": "000_e525b34afe8532cd",
    "chunk_id": "9e60629ea02538527d3965929df07dd3",
    "start": 655,
    "end": 1254,
    "line": 5,
    "page": None,
    "text": "“In the first place is energy cooperation. On the one hand, there is the idea of a joint project. "
    "Serbia would import gas from Azerbaijan, then produce electricity using gas-fired power plants, and then "
    "sell the electricity on the EU market. We also have limitations for realization of this project, it cannot "
    "be realized quickly, but it would be profitable for both Azerbaijan and Serbia. On the other hand, Serbia is "
    "interested in importing Azerbaijani oil,” the expert said.\n\nProrokovic has rightly pointed out that the "
    "Southern Gas Corridor acts as an alternative route for gas supply to Serbia.",
    "score": 0.6269,
    "quote": None,
}
_CITED = {
    **_PASSAGE,
    "quote": {
        "start": 1045,
        "end": 1132,
        "text": "On the other hand, Serbia is interested in importing Azerbaijani oil,” the expert said.",
    },
}


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant", "system"]
    # No length here: RAG_MAX_MESSAGE_CHARS is the one limit, checked with the question (413, as for chat
    # completions) by api/routes/ask.py's check_question; RAG_MAX_REQUEST_KB bounds the body before that.
    content: str


class AskRequest(BaseModel):
    question: str = Field(min_length=1, examples=["What does Serbia want to import from Azerbaijan?"])
    top_k: int | None = Field(None, ge=1, le=20, description="passages to retrieve (default: the server's top_k)")
    history: list[HistoryMessage] = Field(
        default_factory=list,
        max_length=100,
        description="earlier turns, oldest first; a follow-up is rewritten into a standalone question",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"question": "What does Serbia want to import from Azerbaijan?"},
                {
                    "question": "and what about oil?",
                    "history": [
                        {"role": "user", "content": "What does Serbia want to import from Azerbaijan?"},
                        {"role": "assistant", "content": "Serbia would import gas from Azerbaijan [2]."},
                    ],
                },
            ]
        }
    }


class Quote(BaseModel):
    """The sentence(s) of a cited passage that support the answer: `text == source[start:end]`."""

    start: int
    end: int
    text: str


class Citation(BaseModel):
    """A passage: `text` is exactly `open(source).read()[start:end]` (for PDF and Office files, of the text
    extracted from them), so a citation can be checked."""

    id: int = Field(description="the number used in the answer text, [id]")
    source: str
    name: str
    title: str
    chunk_id: str
    start: int
    end: int
    line: int | None = None
    page: int | None = None
    page_label: str | None = Field(None, description="how a deck or workbook names the page: 'slide 4', \"sheet 'Q3'\"")
    text: str
    score: float = Field(description="cosine similarity of passage and question")
    quote: Quote | None = Field(
        None, description="in a citation: the supporting sentence(s) the model quoted, located in the document"
    )

    model_config = {"json_schema_extra": {"examples": [_PASSAGE]}}


ASK_EXAMPLE: dict[str, Any] = {
    "answer": "Serbia is interested in importing Azerbaijani oil [2].",
    "citations": [_CITED],
    "refused": False,
    "model": "qwen2.5-coder-1.5b-instruct-q4_k_m",
    "retrieval_ms": 16.3,
    "generation_ms": 3816.0,
    "question": "What does Serbia want to import from Azerbaijan?",
    "standalone_question": "What does Serbia want to import from Azerbaijan?",
    "removed_citations": {},
    "checks": {"passage": 2, "quote_match": "exact", "lexical": 1.0, "entailed": True},
    "passages": [_PASSAGE],
}


class ClaimQuote(BaseModel):
    passage: int = Field(description="the number of the cited passage (an `id` in `citations`)")
    start: int
    end: int
    text: str = Field(description="the sentence that states the claim, exactly as the document has it")


class Claim(BaseModel):
    text: str = Field(description="one statement of the answer, as shown before its markers")
    citations: list[int] = Field(description="the passages it cites")
    quotes: list[ClaimQuote] = Field(description="the sentences that state it, with their spans in the documents")


class TokenUsage(BaseModel):
    prompt_tokens: int = Field(description="tokens the LLM read, over every call of this answer")
    completion_tokens: int = Field(description="tokens the LLM wrote (the draft, and each check's reply)")
    total_tokens: int


class AskResponse(BaseModel):
    answer: str = Field(description="the checked answer; [n] markers name entries of `citations`")
    citations: list[Citation] = Field(description="the passages the answer actually cites")
    refused: bool = Field(description="true when the documents do not answer the question")
    model: str
    retrieval_ms: float
    generation_ms: float
    question: str
    standalone_question: str | None = Field(None, description="the question as rewritten with the history")
    removed_citations: dict[str, list[int]] = Field(
        default_factory=dict, description="markers removed or added by the citation check, by reason"
    )
    checks: dict[str, Any] = Field(
        default_factory=dict,
        description="how the answer was checked: each claim's evidence sentences (as named, or re-anchored), each "
        "support check's result (`claims`), the model's `draft`, and, for a withheld answer, `withheld` naming the "
        "check that failed",
    )
    passages: list[Citation] = Field(default_factory=list, description="everything retrieved, cited or not")
    claims: list[Claim] = Field(
        default_factory=list, description="the answer's claims, each with its own citations and evidence spans"
    )
    answer_id: str | None = Field(None, description="names this answer in POST /v1/feedback")
    usage: TokenUsage | None = Field(
        None, description="tokens as the LLM server reported them (zeros from a server that reports none)"
    )

    model_config = {"json_schema_extra": {"examples": [ASK_EXAMPLE]}}


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class LLMErrorBody(ErrorBody):
    """The LLM failed: the error, and the passages retrieval found (still worth showing)."""

    passages: list[Citation] = []
    retrieval_ms: float = 0.0


LLM_ERROR_EXAMPLE: dict[str, Any] = {
    "error": {
        "type": "llm_unavailable",
        "message": "LLM server at http://127.0.0.1:8081/v1 is unreachable (Connection refused); start it with "
        "'rag serve' (or 'make run'), or set OPENAI_BASE_URL",
    },
    "passages": [_PASSAGE],
    "retrieval_ms": 14.2,
}


def error_example(type_: str, message: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry for one error, with its real message."""
    return {
        "model": ErrorBody,
        "content": {"application/json": {"example": {"error": {"type": type_, "message": message}}}},
    }


AUTH_ERROR: dict[int | str, dict[str, Any]] = {
    401: error_example("unauthorized", "this server needs an API key: send 'Authorization: Bearer <key>'")
}


# --- documents -------------------------------------------------------------------------------------
class DocumentInfo(BaseModel):
    id: str = Field(description="first 16 hex characters of sha256(source); use it with DELETE")
    source: str
    name: str
    title: str | None = None
    date: str | None = None
    chunks: int
    ingested_at: float = Field(description="Unix time of the last change")
    groups: list[str] | None = Field(
        None,
        description="who may read it (`everyone`: any caller; [] nobody but admins); shown to admin keys only",
    )


class DocumentList(BaseModel):
    documents: list[DocumentInfo]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "documents": [
                        {
                            "id": "5b0e9d5c1b7f3a21",
                            "source": _SEED,
                            "name": "000_e525b34afe8532cd.txt",
                            "title": "000_e525b34afe8532cd",
                            "date": "2022-11-24",
                            "chunks": 5,
                            "ingested_at": 1732447212.5,
                        }
                    ]
                }
            ]
        }
    }


class UploadResult(BaseModel):
    name: str = Field(description="the file's name as stored (sanitised)")
    filename: str = Field(description="the name the client sent")
    source: str = Field(description="where it is stored; empty when it was not stored")
    status: Literal["added", "updated", "unchanged", "skipped"]
    reason: str = Field("", description="why a file was skipped")
    chunks: int = 0
    embedded: int = Field(0, description="chunks embedded now (unchanged chunks are reused)")


class UploadResponse(BaseModel):
    results: list[UploadResult]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "results": [
                        {
                            "name": "handbook.md",
                            "filename": "handbook.md",
                            "source": "/srv/seedrag/data/uploads/handbook.md",
                            "status": "added",
                            "reason": "",
                            "chunks": 12,
                            "embedded": 12,
                        },
                        {
                            "name": "photo.jpg",
                            "filename": "photo.jpg",
                            "source": "",
                            "status": "skipped",
                            "reason": "unsupported type '.jpg' (supported: .htm, .html, .markdown, .md, .pdf, "
                            ".rst, .txt)",
                            "chunks": 0,
                            "embedded": 0,
                        },
                    ]
                }
            ]
        }
    }


class RemovedDocument(BaseModel):
    id: str
    source: str
    chunks: int


class RemoveResponse(BaseModel):
    removed: RemovedDocument
