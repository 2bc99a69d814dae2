"""How many sentences to show the model (RAG_ANSWER_SENTENCES): for the dev questions of `rag eval-answers
--limit 136`, the share of answerable questions whose gold answer is in the sentences shown, and the prompt's
size, for each number kept. No model is called: retrieval and the sentence focus only, so it runs in seconds
once the eval index exists. Prints a table and writes bench/results/answers/sentence-focus.json."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import tiktoken

from rag.answering import sentences
from rag.config import Settings
from rag.eval import answers as ea
from rag.eval import metrics as m
from rag.eval.retrieval import build_index
from rag.index.embeddings import make_embedder
from rag.tokens import encoding

ROOT = Path(__file__).resolve().parent.parent
KEEP = [4, 6, 8, 10, 12, 16, 20, 0]


def main() -> int:
    settings = Settings()
    data = ea.load_qa(ROOT.parent / "shared" / "evaldata" / "cmu-qa")
    index = build_index(data.as_beir(), settings, make_embedder(settings, None), progress=False)
    pipe = index.pipeline
    enc: tiktoken.Encoding = encoding("cl100k_base")
    questions = [q for q in ea.sample(data.questions, 136) if q.kind == "open"]
    rows = []
    prompts = pipe.answerer.prompts
    cases = []
    for q in questions:
        passages = pipe.retriever.search(q.text)
        cases.append((q, passages, sentences.split(passages)))
    for keep in KEEP:
        found, tokens = 0, []
        for q, passages, every in cases:
            shown = sentences.focus(q.text, every, keep)
            found += m.contains_answer(" ".join(s.text for s in shown), q.answers)
            tokens.append(len(enc.encode(sentences.render(shown, passages, prompts.passage_sentences))))
        rows.append(
            {
                "keep": keep or "all",
                "answer_shown": round(found / len(cases), 3),
                "tokens_p50": statistics.median(tokens),
            }
        )
    whole = sum(m.contains_answer(" ".join(p.text for p in passages), q.answers) for q, passages, _ in cases)
    print(f"{len(cases)} open dev questions; gold answer in the retrieved passages: {whole / len(cases):.0%}")
    print("| sentences shown | gold answer among them | passage tokens p50 (cl100k) |\n|---|---|---|")
    for r in rows:
        print(f"| {r['keep']} | {r['answer_shown']:.0%} | {r['tokens_p50']:.0f} |")
    out = ROOT / "bench" / "results" / "answers" / "sentence-focus.json"
    out.write_text(
        json.dumps({"open_questions": len(cases), "in_passages": whole / len(cases), "rows": rows}, indent=1) + "\n"
    )
    pipe.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
