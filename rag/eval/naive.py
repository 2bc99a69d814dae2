"""The naive pipeline the answer step is measured against: dense top-4 passages of ~1,000 characters, the
classic "use the following pieces of context" prompt, no checks. Used only by `rag eval-answers --pipeline
naive`; it is the peer any answer-step change has to beat, on the same model and the same questions."""

from __future__ import annotations

import re
import time

from rag.answering.answerer import Answer
from rag.answering.prompts import Prompts
from rag.llm.client import LLM
from rag.retrieval.retriever import Retriever

# ~1,000 characters of English prose; the naive index is built with these settings.
NAIVE_SETTINGS = {
    "chunk_tokens": 256,
    "chunk_overlap": 0,
    "retrieval_mode": "vector",
    "top_k": 4,
    "min_similarity": -1.0,
    "feedback_passages": 0,
}
# The classic prompt says "just say that you don't know": count that as its refusal.
_DONT_KNOW = re.compile(r"\b(i )?(do not|don't) know\b|not (mentioned|provided|stated)|no information", re.I)


class NaiveAnswerer:
    def __init__(self, retriever: Retriever, llm: LLM, prompts: Prompts) -> None:
        self.retriever, self.llm, self.prompts = retriever, llm, prompts

    def ask(self, question: str) -> Answer:
        t0 = time.perf_counter()
        passages = self.retriever.search(question, 4)
        t1 = time.perf_counter()
        context = "\n\n".join(p.text for p in passages)
        text = self.llm.chat(
            [{"role": "user", "content": self.prompts.naive.format(context=context, question=question)}]
        )
        t2 = time.perf_counter()
        refused = bool(_DONT_KNOW.search(text)) and len(text.split()) <= 30
        # No citation check: every passage counts as cited, as a reader of such a pipeline would assume.
        cited = [] if refused else list(enumerate(passages, 1))
        return Answer(
            question,
            text.strip(),
            cited,
            refused,
            self.llm.model,
            (t1 - t0) * 1000,
            (t2 - t1) * 1000,
            passages,
            question,
        )
