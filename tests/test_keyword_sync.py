"""The keyword (FTS5) index stays in step with Chroma through ingest, change, prune and an interrupted ingest,
and is updated row by row, never rebuilt. Real Chroma on disk, the real embedder, built by rag.pipeline.build."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.ingest.loaders import Document, load
from rag.pipeline import Pipeline, build


def topics(n: int) -> dict[str, str]:
    return {
        "turbines.md": "# Wind turbines\n\n"
        + "\n\n".join(f"Turbine {i} on the ridge turns its blades slowly in a westerly wind." for i in range(n)),
        "orchard.md": "# The orchard\n\n"
        + "\n\n".join(f"Apple tree {i} in the orchard was pruned in February by the gardener." for i in range(n)),
        "harbour.txt": "\n\n".join(f"Fishing boat {i} left the harbour for the herring grounds." for i in range(n)),
    }


def write(folder: Path, n: int) -> Path:
    folder.mkdir()
    for name, text in topics(n).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


class FailingEmbedder:
    """The real embedder, but the process 'dies' (KeyboardInterrupt) once more than `budget` texts were asked for."""

    def __init__(self, inner: MiniLMEmbedder, budget: int) -> None:
        self.inner, self.budget, self.done = inner, budget, 0
        self.name, self.max_tokens, self.floor = inner.name, inner.max_tokens, inner.floor

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.done + len(texts) > self.budget:
            raise KeyboardInterrupt("simulated kill during embedding")
        self.done += len(texts)
        return self.inner.embed(texts)


def chroma_ids(pipe: Pipeline) -> set[str]:
    return set(pipe.vectors.collection.get(include=[])["ids"])


def fts_rows(pipe: Pipeline) -> dict[str, int]:
    """chunk id -> FTS5 rowid, read straight from the SQLite file (a second connection, as another process)."""
    path = pipe.settings.data_dir / f"keyword-{pipe.settings.collection}.sqlite"
    db = sqlite3.connect(str(path))
    try:
        rows = dict(db.execute("SELECT c.chunk_id, f.rowid FROM chunks c JOIN chunks_fts f ON f.rowid = c.rowid"))
        assert db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] == len(rows), "orphan FTS rows"
        return rows
    finally:
        db.close()


def assert_in_step(pipe: Pipeline) -> set[str]:
    ids = chroma_ids(pipe)
    assert set(fts_rows(pipe)) == ids
    assert pipe.keywords.count() == pipe.vectors.count() == len(ids)
    return ids


def top_source(pipe: Pipeline, words: str) -> str:
    hits = pipe.keywords.search(words, 5)
    assert hits, f"no keyword hit for {words!r}"
    return pipe.keywords.chunk_sources()[hits[0][0]]


def test_ingest_change_and_prune_keep_both_indexes_equal(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    folder = write(tmp_path / "docs", 12)
    pipe = build(settings, embedder=embedder)
    pipe.ingestor.ingest([folder])
    ids = assert_in_step(pipe)
    assert len(ids) > 3
    before = fts_rows(pipe)
    orchard = str((folder / "orchard.md").resolve())
    source_before = pipe.keywords.chunk_sources()

    # Change one file: a new paragraph replaces one; the other files' rows are not touched (no rebuild).
    text = topics(12)["orchard.md"].replace(
        "Apple tree 5 in the orchard was pruned in February by the gardener.",
        "A beehive of wild honey bees now stands where apple tree 5 was felled.",
    )
    (folder / "orchard.md").write_text(text, encoding="utf-8")
    pipe.ingestor.ingest([folder])
    after = fts_rows(pipe)
    assert_in_step(pipe)
    unchanged = {cid for cid in before if source_before[cid] != orchard}
    assert unchanged and all(after[cid] == before[cid] for cid in unchanged), "other files' FTS rows were rewritten"
    assert set(after) - set(before), "the changed paragraph got new rows"
    assert top_source(pipe, "beehive honey bees felled") == orchard
    hits, _ = pipe.retriever.read([cid for cid, _ in pipe.keywords.search("pruned February", 50)])
    assert hits and not [c for c in hits if "tree 5 in the orchard" in c.text], "the replaced text is still found"

    # Delete a file and prune: its chunks leave both indexes, and keyword search no longer finds it.
    (folder / "harbour.txt").unlink()
    report = pipe.ingestor.ingest([folder], prune=True)
    assert report.count("removed") == 1
    assert_in_step(pipe)
    assert pipe.keywords.search("herring harbour fishing boat", 10) == []
    assert all(r.source != str((folder / "harbour.txt").resolve()) for r in pipe.keywords.records())

    # Remove one document explicitly, as the API's DELETE does.
    pipe.ingestor.remove(orchard)
    assert_in_step(pipe)
    assert top_source(pipe, "turbine blades westerly wind").endswith("turbines.md")
    pipe.close()


def test_interrupted_ingest_leaves_keywords_no_ahead_of_chroma_and_the_next_run_completes_it(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    # Small chunks and enough of them that the ingest embeds in several batches (of 256) and dies after one.
    folder = write(tmp_path / "docs", 110)
    # embed_batch_size 8: the ingest stores every 32 batches = 256 chunks.
    settings = settings.model_copy(update={"chunk_tokens": 16, "chunk_overlap": 0, "embed_batch_size": 8})
    full = build(settings, embedder=embedder)
    total = sum(len(full.ingestor.chunk(d)) for d in _docs(folder))
    full.close()
    assert total > 256

    dying = build(settings, embedder=FailingEmbedder(embedder, budget=256))
    with pytest.raises(KeyboardInterrupt):
        dying.ingestor.ingest([folder])
    stored, keyword = chroma_ids(dying), set(fts_rows(dying))
    assert 0 < len(stored) < total, "the kill landed mid-way"
    assert keyword <= stored, "the keyword index never holds a chunk Chroma lacks"
    recorded = {r.source for r in dying.keywords.records()}
    for source in recorded:  # a file recorded as done is complete on both sides
        assert dying.keywords.chunk_ids(source) == dying.vectors.ids_for(source)
    dying.close()

    again = build(settings, embedder=embedder)
    report = again.ingestor.ingest([folder])
    assert_in_step(again)
    assert again.vectors.count() == total
    assert report.embedded == total - len(stored), "work done before the kill is not redone"
    for name, words in (("turbines.md", "turbine ridge"), ("orchard.md", "apple orchard"), ("harbour.txt", "herring")):
        assert top_source(again, words).endswith(name)
    again.close()


def _docs(folder: Path) -> list[Document]:
    return [load(p, 10**7) for p in sorted(folder.iterdir())]
