"""Answer quality on a QA folder: does the whole pipeline give right, cited answers, and refuse what the
documents do not say?

The folder holds `corpus.jsonl(.gz)` ({_id, title, text}) and `queries.jsonl` ({_id, text, answers,
metadata: {doc}}); an empty `answers` list means the right reply is a refusal. A multilingual folder (XQuAD)
may keep the answers in `metadata.answers`, each question's language in `metadata.lang` (the figures are then
also given per language) and its gold documents in qrels/<split>.tsv (the highest-scored one is `doc`, every
relevant one counts as the gold article: the same paragraph in another language). The corpus is indexed through
the normal pipeline into an index of its own (as `rag eval` does), and every question is asked through the
Answerer the API uses. Scoring rules live in rag/eval/metrics.py.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.answering.answerer import Answer, AnswerFailed, citation_dict
from rag.eval import by_language
from rag.eval import metrics as m
from rag.eval.recording import Recording
from rag.eval.retrieval import BeirData, DatasetError, EvalIndex, _jsonl, latency
from rag.llm.client import LLMError
from rag.retrieval.retriever import Passage

# Shares of a sampled run (`--limit N`): open questions are what users mostly ask; refusals get a quarter so
# that the refusal rate is measured on more than a handful.
SAMPLE_SHARES = {"open": 0.5, "yesno": 0.25, "unanswerable": 0.25}


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: list[str]
    doc: str | None  # the gold document's id, if any
    multi: bool = False  # `answers` are the parts of one answer (metadata.parts)
    lang: str | None = None  # the question's language (metadata.lang), when the folder gives one
    docs: tuple[str, ...] = ()  # every relevant document (qrels), the gold article in any language

    @property
    def kind(self) -> m.Kind:
        return "multi" if self.multi else m.kind_of(self.answers)


@dataclass(frozen=True)
class QAData:
    name: str
    corpus: dict[str, tuple[str, str]]
    questions: list[Question]

    def as_beir(self) -> BeirData:
        """The corpus in the shape the retrieval harness indexes (no judgements needed)."""
        return BeirData(self.name, "answers", self.corpus, {}, {})


def load_qa(folder: Path, queries: Path | None = None, langs: set[str] | None = None) -> QAData:
    """The folder's corpus and questions; `queries`, a JSONL file of questions about the same corpus instead.
    `langs`: only the questions in these languages and the documents in them (a document without
    `metadata.lang` is kept)."""

    def kept(d: dict[str, Any]) -> bool:
        lang = (d.get("metadata") or {}).get("lang")
        return not langs or lang is None or lang in langs

    corpus = {str(d["_id"]): (d.get("title") or "", d.get("text") or "") for d in _jsonl(folder, "corpus") if kept(d)}
    judged = by_language.judgements(folder)
    questions = []
    rows = _jsonl(folder, "queries") if queries is None else _read_jsonl(queries)
    for q in rows:
        meta = q.get("metadata") or {}
        answers = q["answers"] if "answers" in q else meta.get("answers")
        if not isinstance(answers, list):
            raise DatasetError(
                f"{folder}/queries.jsonl: question {q.get('_id')} has no 'answers' list (nor metadata.answers; "
                "use [] for a question that must be refused)"
            )
        lang = meta.get("lang")
        if langs and lang not in langs:
            continue
        scores = {d: s for d, s in judged.get(str(q["_id"]), {}).items() if s > 0 and d in corpus}
        doc = meta.get("doc") or (max(scores, key=lambda d: scores[d]) if scores else None)
        questions.append(
            Question(str(q["_id"]), q["text"], list(answers), doc, bool(meta.get("parts")), lang, tuple(sorted(scores)))
        )
    if not questions:
        where = f" in {', '.join(sorted(langs))}" if langs else ""
        raise DatasetError(f"{folder}/queries.jsonl holds no questions{where}")
    return QAData(folder.resolve().name, corpus, questions)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _order(qid: str) -> str:
    return hashlib.sha256(qid.encode()).hexdigest()


def sample(questions: list[Question], limit: int | None) -> list[Question]:
    """All questions, or a deterministic sample of `limit` split by SAMPLE_SHARES (hash order within a kind).
    Questions in several languages: `limit` is shared evenly among the languages, each sampled the same way."""
    if limit is None or limit >= len(questions):
        return sorted(questions, key=lambda q: _order(q.qid))
    langs = list(dict.fromkeys(q.lang for q in questions))
    if len(langs) > 1:
        share, extra = divmod(limit, len(langs))
        return [
            q
            for i, lang in enumerate(langs)
            for q in _sample_kinds([q for q in questions if q.lang == lang], share + (i < extra))
        ]
    return _sample_kinds(questions, limit)


def _sample_kinds(questions: list[Question], limit: int) -> list[Question]:
    if limit >= len(questions):
        return sorted(questions, key=lambda q: _order(q.qid))
    picked: list[Question] = []
    kinds = list(SAMPLE_SHARES)
    for i, kind in enumerate(kinds):
        pool = sorted((q for q in questions if q.kind == kind), key=lambda q: _order(q.qid))
        want = limit - len(picked) if i == len(kinds) - 1 else round(limit * SAMPLE_SHARES[kind])
        picked.extend(pool[:want])
    if len(picked) < limit:  # a kind the folder lacks (XQuAD has no yes/no or unanswerable): fill from the rest
        chosen = {q.qid for q in picked}
        rest = sorted((q for q in questions if q.qid not in chosen), key=lambda q: _order(q.qid))
        picked.extend(rest[: limit - len(picked)])
    return picked


@dataclass
class Verdict:
    question: Question
    answer: str
    refused: bool
    correct: bool
    recall: float
    f1: float
    citations: list[dict[str, Any]]
    precise: list[bool]  # per citation: the passage holds the answer or is from the gold article
    retrieval_hit: bool | None  # the gold article is among the passages given to the model
    seconds: float
    error: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    passages: list[dict[str, Any]] = field(default_factory=list)  # all given to the model: {n, doc, text}

    def to_dict(self) -> dict[str, Any]:
        q = self.question
        return {
            "id": q.qid,
            "kind": q.kind,
            "lang": q.lang,
            "question": q.text,
            "gold": q.answers,
            "gold_doc": q.doc,
            "answer": self.answer,
            "refused": self.refused,
            "correct": self.correct,
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "citations": self.citations,
            "citation_precise": self.precise,
            "retrieval_hit": self.retrieval_hit,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "checks": self.checks,
            "passages": self.passages,
        }


class Judge:
    """Turns an Answer into a Verdict, knowing which document each indexed file came from."""

    def __init__(self, index: EvalIndex, corpus: dict[str, tuple[str, str]]) -> None:
        self.doc_of = index.doc_of
        self.title_of = {doc_id: " ".join(title.lower().split()) for doc_id, (title, _) in corpus.items()}

    def doc_id(self, p: Passage) -> str | None:
        return self.doc_of.get(Path(p.source).name)

    def same_article(self, doc_id: str | None, gold: str | None, docs: tuple[str, ...] = ()) -> bool:
        # The corpus holds several years' versions of one article: each is the gold article's text. A
        # multilingual one holds the article in other languages (`docs`, from the qrels).
        if doc_id is None or gold is None:
            return False
        return doc_id == gold or doc_id in docs or (self.title_of.get(doc_id) or "\0") == self.title_of.get(gold)

    def verdict(self, q: Question, answer: Answer, seconds: float) -> Verdict:
        kind = q.kind
        citations, precise = [], []
        for n, p in answer.citations:
            doc = self.doc_id(p)
            citations.append({**citation_dict(n, p, answer.quotes.get(n)), "doc": doc})
            if kind != "unanswerable":
                precise.append(m.contains_answer(p.text, q.answers) or self.same_article(doc, q.doc, q.docs))
        hit = None if q.doc is None else any(self.same_article(self.doc_id(p), q.doc, q.docs) for p in answer.passages)
        refused = answer.refused
        return Verdict(
            q,
            answer.answer,
            refused,
            m.is_correct(answer.answer, q.answers, kind, refused),
            0.0
            if refused
            else m.parts_found(answer.answer, q.answers)
            if kind == "multi"
            else m.best(m.recall, answer.answer, q.answers),
            0.0 if refused else m.best(m.f1, answer.answer, q.answers),
            citations,
            precise,
            hit,
            seconds,
            checks=answer.checks,
            passages=[{"n": i, "doc": self.doc_id(p), "text": p.text} for i, p in enumerate(answer.passages, 1)],
        )

    def failed(self, q: Question, error: str, seconds: float) -> Verdict:
        return Verdict(q, "", True, False, 0.0, 0.0, [], [], None, seconds, error)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarize(verdicts: list[Verdict]) -> dict[str, Any]:
    """The reported figures, overall and per kind of question."""
    out: dict[str, Any] = {"questions": len(verdicts)}
    for kind in ("open", "yesno", "unanswerable", "multi"):
        vs = [v for v in verdicts if v.question.kind == kind]
        if not vs:
            continue
        answered = [v for v in vs if not v.refused]
        cites = [ok for v in answered for ok in v.precise]
        hits = [v.retrieval_hit for v in vs if v.retrieval_hit is not None]
        row: dict[str, Any] = {"questions": len(vs), "refused": sum(v.refused for v in vs)}
        if kind == "unanswerable":
            row["refusal_rate"] = _rate(row["refused"], len(vs))
        else:
            row.update(
                correct=sum(v.correct for v in vs),
                accuracy=_rate(sum(v.correct for v in vs), len(vs)),
                f1=round(statistics.fmean(v.f1 for v in vs), 4),
                refusal_rate=_rate(row["refused"], len(vs)),
                citation_precision=_rate(sum(cites), len(cites)),
                citations=len(cites),
                retrieval_hit_rate=_rate(sum(hits), len(hits)),
            )
            if kind == "multi":  # `recall` of a multi-part question is its share of parts found
                row["parts_found"] = round(statistics.fmean(v.recall for v in vs), 4)
        row["errors"] = sum(v.error is not None for v in vs)
        out[kind] = row
    out["seconds_per_answer"] = latency([v.seconds for v in verdicts])
    langs = by_language.summarize(verdicts)
    if langs:
        out["by_language"] = langs
    return out


Asker = Callable[[str], Answer]


def run(
    questions: list[Question],
    ask: Asker,
    judge: Judge,
    progress: bool = True,
    concurrency: int = 1,
    recording: Recording | None = None,
) -> list[Verdict]:
    """Every question's verdict, in the order given; `concurrency` questions at a time (the local model has
    two slots). With a recording, a replayed reply counts the seconds it took when it was recorded."""

    def one(q: Question) -> Verdict:
        if recording is not None:
            recording.reset_thread()
        t0 = time.perf_counter()
        try:
            answer = ask(q.text)
        except (AnswerFailed, LLMError) as e:  # a failing LLM is an error of the run, not a refusal: say so
            return judge.failed(q, str(e), _elapsed(t0, recording))
        return judge.verdict(q, answer, _elapsed(t0, recording))

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        return list(
            tqdm(
                pool.map(one, questions), total=len(questions), desc="questions", unit="question", disable=not progress
            )
        )


def _elapsed(t0: float, recording: Recording | None) -> float:
    return time.perf_counter() - t0 + (recording.replayed_seconds() if recording is not None else 0.0)


@dataclass
class AnswerEvalResult:
    dataset: str
    pipeline: str
    summary: dict[str, Any]
    verdicts: list[Verdict]
    index: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "pipeline": self.pipeline,
            "summary": self.summary,
            "index": self.index,
            "settings": self.settings,
            "questions": [v.to_dict() for v in self.verdicts],
        }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def format_report(r: AnswerEvalResult) -> str:
    s = r.summary
    lines = [
        f"{r.dataset}: {s['questions']} questions, pipeline '{r.pipeline}', {r.index.get('chunks', '?'):,} chunks"
        if isinstance(r.index.get("chunks"), int)
        else f"{r.dataset}: {s['questions']} questions, pipeline '{r.pipeline}'"
    ]
    for kind in ("open", "yesno", "multi"):
        if kind in s:
            k = s[kind]
            lines.append(
                f"{kind:<6} correct {k['correct']}/{k['questions']} ({_pct(k['accuracy'])})  F1 {k['f1']:.3f}  "
                f"refused {k['refused']}  citation precision {_pct(k['citation_precision'])} of {k['citations']}  "
                f"retrieval hit {_pct(k['retrieval_hit_rate'])}"
                + (f"  parts found {_pct(k['parts_found'])}" if "parts_found" in k else "")
                + (f"  errors {k['errors']}" if k["errors"] else "")
            )
    if "unanswerable" in s:
        u = s["unanswerable"]
        lines.append(
            f"unanswerable refused {u['refused']}/{u['questions']} ({_pct(u['refusal_rate'])})"
            + (f"  errors {u['errors']}" if u["errors"] else "")
        )
    lines.extend(by_language.table(s.get("by_language") or {}))
    lat = s["seconds_per_answer"]
    if lat:
        lines.append(f"seconds per answer: p50 {lat['p50']:.1f}, p95 {lat['p95']:.1f}")
    return "\n".join(lines)


def write_json(result: AnswerEvalResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
