"""The retrieval-quality harness: metrics against hand-computed values, the BEIR reader, and `rag eval` end to
end on a tiny BEIR folder with known answers, through the real pipeline (Chroma on disk, the ONNX embedder)."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import Settings
from rag.eval.retrieval import (
    DatasetError,
    evaluate,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    score_run,
)
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import build

TINY = Path(__file__).parent / "data" / "beir_tiny"
EXPECTED_TOP = {"q1": "bees", "q2": "battery", "q3": "terns", "q4": "chess", "q5": "power/tides"}


# --- metrics, by hand -----------------------------------------------------------------------------
def test_ndcg_uses_graded_gains_and_the_ideal_order() -> None:
    judged = {"a": 0, "b": 2, "d": 1, "e": 1}
    # DCG: b at rank 2 gains 2^2-1 = 3, d at rank 4 gains 1; discounts log2(3) and log2(5).
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    # Ideal: grades 2, 1, 1 at ranks 1, 2, 3.
    idcg = 3 / 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(["a", "b", "c", "d"], judged) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b", "c", "d"], judged) == pytest.approx(0.562456, abs=1e-6)
    assert ndcg_at_k(["b", "d", "e"], judged) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], judged) == 0.0
    # Only the first k ranks count.
    assert ndcg_at_k(["x", "b"], judged, k=1) == 0.0


def test_recall_and_mrr() -> None:
    judged = {"a": 0, "b": 2, "d": 1, "e": 1}  # relevant: b, d, e (score 0 is judged not relevant)
    ranking = ["a", "b", "c", "d"]
    assert recall_at_k(ranking, judged, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranking, judged, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(ranking, judged) == pytest.approx(1 / 2)
    assert mrr_at_k(["a", "c"], judged) == 0.0
    assert mrr_at_k(["x"] * 10 + ["b"], judged) == 0.0, "a hit past rank 10 is not in MRR@10"


def test_score_run_averages_over_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 3, "c": 1}}
    run = {"q1": ["a"], "q2": ["c", "x", "b"]}
    m = score_run(run, qrels)
    q2_ndcg = (1 + 7 / math.log2(4)) / (7 + 1 / math.log2(3))
    assert m["ndcg@10"] == pytest.approx((1.0 + q2_ndcg) / 2, abs=1e-4)
    assert m["recall@10"] == 1.0
    assert m["mrr@10"] == pytest.approx((1.0 + 1.0) / 2)


# --- reading BEIR folders -------------------------------------------------------------------------
def test_load_beir_reads_plain_and_gzipped(tmp_path: Path) -> None:
    data = load_beir(TINY)
    assert data.split == "test", "no dev split here: the next one is taken"
    assert len(data.corpus) == 10 and data.corpus["chess"][0] == ""
    assert set(data.queries) == set(EXPECTED_TOP), "q6 (no relevant doc) and q7 (not judged) are not scored"
    assert data.qrels["q2"] == {"battery": 2, "power/tides": 0}

    gz = tmp_path / "tiny_gz"
    shutil.copytree(TINY, gz)
    with (gz / "corpus.jsonl").open("rb") as src, gzip.open(gz / "corpus.jsonl.gz", "wb") as dst:
        dst.write(src.read())
    (gz / "corpus.jsonl").unlink()
    assert load_beir(gz, "test").corpus == data.corpus
    assert load_beir(gz).fingerprint() == data.fingerprint()


def test_load_beir_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="split 'dev'.*splits here: \\['test'\\]"):
        load_beir(TINY, "dev")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no corpus.jsonl or corpus.jsonl.gz"):
        load_beir(tmp_path)


# --- the harness through the real pipeline ---------------------------------------------------------
def test_eval_on_tiny_beir_finds_known_answers_in_its_own_index(settings: Settings, embedder: MiniLMEmbedder) -> None:
    data = load_beir(TINY, "test")
    result = evaluate(data, settings, embedder, progress=False)

    assert {q: r[0] for q, r in result.run.items()} == EXPECTED_TOP
    assert result.metrics == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0, "success@5": 1.0}
    assert "by_language" not in result.extra, "no query carries a language: no per-language rows"
    # Every document is ranked (the corpus is smaller than the run depth), each once, ids as given.
    for ranking in result.run.values():
        assert sorted(ranking) == sorted(data.corpus)
    assert result.index["chunks"] == 10 and result.index["chunks_embedded"] == 10
    assert result.latency["p50"] > 0 and result.extra["ranking_latency_ms"]["p95"] > 0

    out = result.to_dict()
    json.dumps(out)  # serialisable as written by --json
    assert out["settings"]["retrieval_mode"] == settings.retrieval_mode
    assert out["settings"]["chunk_tokens"] == settings.chunk_tokens
    assert not any(k.startswith(("llm_", "slack_")) for k in out["settings"])

    # Its index lives apart: the user's collection is empty, the eval one sits under <data_dir>/eval/.
    user = build(settings, embedder=embedder)
    assert user.vectors.count() == 0 and user.keywords.count() == 0
    user.close()
    assert Path(result.index["data_dir"]).parent == settings.data_dir / "eval"

    # A second run reuses the index.
    again = evaluate(data, settings, embedder, progress=False)
    assert again.index["chunks_embedded"] == 0 and again.run == result.run


def test_eval_index_follows_the_chunk_settings(settings: Settings, embedder: MiniLMEmbedder) -> None:
    data = load_beir(TINY, "test")
    first = evaluate(data, settings, embedder, progress=False, limit=1)
    other = evaluate(data, settings.model_copy(update={"chunk_tokens": 32}), embedder, progress=False, limit=1)
    assert other.index["collection"] != first.index["collection"]
    assert other.index["chunks"] > first.index["chunks"], "short chunks: a fresh index, not the cached one"


def test_keyword_and_vector_modes_are_measured_too(settings: Settings, embedder: MiniLMEmbedder) -> None:
    data = load_beir(TINY, "test")
    for mode in ("keyword", "vector"):
        result = evaluate(data, settings.model_copy(update={"retrieval_mode": mode}), embedder, progress=False)
        assert result.settings["retrieval_mode"] == mode
        assert result.metrics["mrr@10"] == 1.0, (mode, result.run)


def _rag(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "rag", *args], env=env, capture_output=True, text=True, timeout=300)


def test_rag_eval_cli_prints_metrics_and_writes_the_run(tmp_path: Path) -> None:
    out_json = tmp_path / "out" / "tiny.json"
    out = _rag(["eval", str(TINY), "--split", "test", "--json", str(out_json), "-q"], tmp_path / "data")
    assert out.returncode == 0, out.stderr
    assert "nDCG@10 1.0000" in out.stdout and "Recall@100 1.0000" in out.stdout and "p95" in out.stdout
    written = json.loads(out_json.read_text(encoding="utf-8"))
    assert written["dataset"] == "beir_tiny" and written["split"] == "test" and written["queries"] == 5
    assert written["metrics"]["mrr@10"] == 1.0
    assert written["run"]["q4"][0] == "chess" and len(written["run"]["q4"]) == 10
    assert written["settings"]["retrieval_mode"] == "hybrid"

    bad = _rag(["eval", str(tmp_path), "--split", "dev"], tmp_path / "data")
    assert bad.returncode == 2 and "no judgements for split 'dev'" in bad.stderr


def test_a_deep_ranking_starts_with_exactly_what_search_returns(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    """The eval scores deep rankings; the API calls search: the top of one must be the other."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for doc_id, (title, text) in load_beir(TINY).corpus.items():
        for part in range(3):  # 30 documents, so a small candidate pool is deeper than the fused top
            name = doc_id.replace("/", "-")
            (docs / f"{name}-{part}.md").write_text(f"# {title or name}\n\nPart {part}. {text}\n", encoding="utf-8")
    for feedback in (0, 3):
        s = settings.model_copy(update={"candidate_pool": 10, "feedback_passages": feedback})
        pipe = build(s, embedder=embedder)
        pipe.ingestor.ingest([docs])
        for question in ("honey bee colonies", "energy from the tides", "chess"):
            deep = pipe.retriever.ranked_ids(question, 30)
            assert len(deep) == len(set(deep)) == 30
            for k in (1, 5, 10):
                top = [p.chunk_id for p in pipe.retriever.search(question, top_k=k, floor=-1)]
                assert top == deep[:k], (feedback, question, k)
        pipe.close()
