"""`rag eval` per language: queries that carry metadata.lang get a row each (nDCG@10, Recall@10, MRR@10 and
Success@5, "any relevant document in the first 5"), through the real pipeline on a tiny two-language folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import Settings
from rag.eval.languages import first_per_language, score_by_language
from rag.eval.retrieval import (
    evaluate,
    format_report,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    score_run,
    success_at_k,
)
from rag.index.embeddings import MiniLMEmbedder

# The same five paragraphs in English and German, as XQuAD lays them out.
PARAGRAPHS = {
    "bees": (
        "Honey bee colonies collapse when varroa mites spread viruses through the hive.",
        "Honigbienenvölker brechen zusammen, wenn Varroamilben Viren im Bienenstock verbreiten.",
    ),
    "tides": (
        "Tidal power stations turn the rise and fall of the sea into electricity.",
        "Gezeitenkraftwerke machen aus Ebbe und Flut des Meeres elektrischen Strom.",
    ),
    "chess": (
        "The Sicilian Defence answers the king's pawn opening with a pawn on the queen's bishop file.",
        "Die Sizilianische Verteidigung antwortet auf die Königsbauerneröffnung mit dem c-Bauern.",
    ),
    "bread": (
        "A sourdough starter of flour and water ferments with wild yeast before the dough is baked.",
        "Ein Sauerteig aus Mehl und Wasser gärt mit wilder Hefe, bevor der Teig gebacken wird.",
    ),
    "volcano": (
        "Fissure eruptions on the Reykjanes peninsula pour basalt lava over the ground for weeks.",
        "Spalteneruptionen auf der Halbinsel Reykjanes ergießen wochenlang Basaltlava über den Boden.",
    ),
}
QUESTIONS = {
    "q1": ("bees", "why do honey bee colonies collapse", "warum brechen Honigbienenvölker zusammen"),
    "q2": ("tides", "electricity from the tides of the sea", "Strom aus Ebbe und Flut"),
    "q3": ("volcano", "basalt lava eruptions on Reykjanes", "Basaltlava Spalteneruptionen Reykjanes"),
}


def _folder(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for pid, texts in PARAGRAPHS.items():
            for lang, text in zip(("en", "de"), texts, strict=True):
                f.write(json.dumps({"_id": f"{lang}-{pid}", "text": text, "metadata": {"lang": lang}}) + "\n")
    rows = ["query-id\tcorpus-id\tscore"]
    with (root / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, (pid, en, de) in QUESTIONS.items():
            for lang, text in (("en", en), ("de", de)):
                f.write(json.dumps({"_id": f"{lang}-{qid}", "text": text, "metadata": {"lang": lang}}) + "\n")
                rows += [f"{lang}-{qid}\t{lang}-{pid}\t2", f"{lang}-{qid}\t{'de' if lang == 'en' else 'en'}-{pid}\t1"]
        f.write(json.dumps({"_id": "x-1", "text": "a query with no language", "metadata": {}}) + "\n")
    rows.append("x-1\ten-bread\t1")
    (root / "qrels" / "dev.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_success_at_5_is_any_relevant_document_in_the_first_5() -> None:
    judged = {"a": 2, "b": 1, "c": 0}
    assert success_at_k(["x", "y", "z", "w", "b"], judged) == 1.0, "a grade-1 document counts"
    assert success_at_k(["c", "x", "y", "z", "w", "a"], judged) == 0.0, "rank 6 is too late; grade 0 is not relevant"
    assert success_at_k(["x", "a"], judged, k=1) == 0.0


def test_first_per_language_takes_the_same_questions_in_each_language() -> None:
    lang_of = {"en-2": "en", "en-1": "en", "en-3": "en", "de-3": "de", "de-1": "de", "de-2": "de"}
    qids = ["en-2", "de-3", "en-1", "x", "de-1", "en-3", "de-2", "y"]
    assert first_per_language(qids, lang_of, 2) == ["de-1", "de-2", "en-1", "en-2", "x", "y"]
    assert first_per_language(qids, lang_of, 1) == ["de-1", "en-1", "x"]


def test_rows_per_language_average_their_own_queries() -> None:
    qrels = {"en-1": {"a": 2, "b": 1}, "en-2": {"c": 2}, "de-1": {"b": 2, "a": 1}, "x": {"a": 1}}
    run = {"en-1": ["a", "b"], "en-2": ["x", "y", "z", "w", "v", "c"], "de-1": ["a"], "x": ["a"]}
    rows = score_by_language(run, {"en-1": "en", "en-2": "en", "de-1": "de"}, score_run, qrels)
    assert list(rows) == ["de", "en"], "alphabetical; the query without a language has no row"
    assert rows["en"]["queries"] == 2 and rows["de"]["queries"] == 1
    assert rows["en"]["success@5"] == 0.5, "en-2's only relevant document is at rank 6"
    assert rows["en"]["mrr@10"] == pytest.approx((1 + 1 / 6) / 2, abs=1e-4)
    assert rows["de"]["recall@10"] == 0.5 and rows["de"]["mrr@10"] == 1.0
    # de-1 finds its paragraph in the other language (grade 1) first: nDCG (2^1-1) / (2^2-1 + 1/log2(3)).
    assert rows["de"]["ndcg@10"] == pytest.approx(1 / (3 + 1 / 1.5849625), abs=1e-4)


def test_eval_reports_each_language_and_the_whole(tmp_path: Path, settings: Settings, embedder: MiniLMEmbedder) -> None:
    data = load_beir(_folder(tmp_path / "xq"))
    assert data.query_lang["de-q2"] == "de" and "x-1" not in data.query_lang
    result = evaluate(data, settings.model_copy(update={"retrieval_mode": "keyword"}), embedder, progress=False)
    rows = result.extra["by_language"]
    assert list(rows) == ["de", "en"] and rows["de"]["queries"] == 3 and rows["en"]["queries"] == 3
    for lang, row in rows.items():
        mine = {q: r for q, r in result.run.items() if q.startswith(lang + "-")}
        per_query = {
            "ndcg@10": [ndcg_at_k(r, data.qrels[q]) for q, r in mine.items()],
            "recall@10": [recall_at_k(r, data.qrels[q], 10) for q, r in mine.items()],
            "mrr@10": [mrr_at_k(r, data.qrels[q]) for q, r in mine.items()],
            "success@5": [success_at_k(r, data.qrels[q]) for q, r in mine.items()],
        }
        for name, values in per_query.items():
            assert row[name] == pytest.approx(sum(values) / len(values), abs=1e-4), (lang, name)
        # Each question shares words with its own-language paragraph: keyword search ranks that one first.
        assert row["mrr@10"] == 1.0 and row["success@5"] == 1.0, (lang, mine)
    assert len(result.run) == 7, "the query without a language is scored overall"

    table = format_report(result)
    assert "per language" in table and "relevant in top 5" in table
    lines = {
        line.split()[0]: line.split() for line in table.splitlines() if line.split()[:1] in (["de"], ["en"], ["all"])
    }
    assert lines["de"][1] == "3" and lines["all"][1] == "7" and lines["en"][-1] == "100.0%"

    sample = evaluate(data, settings, embedder, progress=False, per_language=1)
    assert sorted(sample.run) == ["de-q1", "en-q1", "x-1"], "the first of each language, by id"
    assert sample.extra["queries_per_language"] == 1


def test_rag_eval_cli_writes_the_language_rows(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "xq")
    out_json = tmp_path / "out.json"
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")}
    args = ["eval", str(folder), "--per-language", "2", "--mode", "keyword", "--json", str(out_json), "-q"]
    out = subprocess.run([sys.executable, "-m", "rag", *args], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "per language" in out.stdout and "Success@5" in out.stdout
    written = json.loads(out_json.read_text(encoding="utf-8"))
    assert written["queries"] == 5 and written["queries_per_language"] == 2
    assert {lang: row["queries"] for lang, row in written["by_language"].items()} == {"de": 2, "en": 2}
    assert set(written["metrics"]) >= {"ndcg@10", "success@5"}
