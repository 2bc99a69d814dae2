"""Incremental ingestion against real Chroma on disk and the real embedder."""

from pathlib import Path

import pytest

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.index.vectors import EmbeddingMismatch
from rag.pipeline import build
from tests.helpers import CountingEmbedder

ARTICLE = "\n\n".join(
    f"Paragraph {i}. The pipeline from {city} carries gas to the coast. Engineers inspected it in {1990 + i}."
    for i, city in enumerate(["Baku", "Tbilisi", "Erzurum", "Ankara", "Sofia", "Nis", "Belgrade", "Novi Sad"] * 4)
)


def _build(settings: Settings, embedder: MiniLMEmbedder, **kw: object) -> tuple:  # type: ignore[type-arg]
    counting = CountingEmbedder(embedder, **kw)  # type: ignore[arg-type]
    return build(settings, embedder=counting), counting


def test_spans_in_the_index_equal_the_source(settings: Settings, embedder: MiniLMEmbedder, corpus: Path) -> None:
    pipe, _ = _build(settings, embedder)
    pipe.ingestor.ingest([corpus])
    passages = pipe.retriever.search("Serbia gas electricity", top_k=10, floor=-1)
    assert passages
    for p in passages:
        assert Path(p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text


def test_unchanged_changed_and_removed_files(settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pipeline.txt").write_text(ARTICLE, encoding="utf-8")
    (docs / "other.md").write_text("# Other\n\nSomething else entirely about wind farms.", encoding="utf-8")
    pipe, counting = _build(settings, embedder)

    first = pipe.ingestor.ingest([docs])
    assert first.count("added") == 2
    total = pipe.vectors.count()
    assert first.embedded == len(counting.texts) == total == pipe.keywords.count()

    counting.texts.clear()
    again = pipe.ingestor.ingest([docs])
    assert again.count("unchanged") == 2 and counting.texts == [], "unchanged files embed nothing"

    # Change one paragraph at the end: only the chunk(s) holding it are re-embedded.
    (docs / "pipeline.txt").write_text(ARTICLE + "\n\nA new closing paragraph about hydrogen.", encoding="utf-8")
    changed = pipe.ingestor.ingest([docs])
    assert changed.count("updated") == 1 and changed.count("unchanged") == 1
    assert 0 < len(counting.texts) <= 2, counting.texts
    assert any("hydrogen" in t for t in counting.texts)
    assert pipe.vectors.count() == pipe.keywords.count()
    hits = pipe.retriever.search("hydrogen closing paragraph", top_k=1, floor=-1)
    assert "hydrogen" in hits[0].text

    # A moved chunk keeps its vector but gets its new span.
    text = "Preface added at the top.\n\n" + ARTICLE + "\n\nA new closing paragraph about hydrogen."
    (docs / "pipeline.txt").write_text(text, encoding="utf-8")
    counting.texts.clear()
    pipe.ingestor.ingest([docs])
    for p in pipe.retriever.search("pipeline gas coast Baku", top_k=10, floor=-1):
        assert Path(p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text

    # Removing a file and pruning drops its chunks from both indexes.
    (docs / "other.md").unlink()
    pruned = pipe.ingestor.ingest([docs], prune=True)
    assert pruned.count("removed") == 1
    assert str((docs / "other.md").resolve()) not in pipe.vectors.all_sources()
    assert not pipe.keywords.chunk_ids(str((docs / "other.md").resolve()))
    assert [r.source for r in pipe.keywords.records()] == [str((docs / "pipeline.txt").resolve())]
    assert pipe.vectors.count() == pipe.keywords.count()


def test_bad_files_are_reported_and_skipped(settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "good.txt").write_text("Azerbaijan sells gas to Serbia.", encoding="utf-8")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.md").write_bytes(b"\x00\xff" * 50)
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    pipe, _ = _build(settings, embedder)
    report = pipe.ingestor.ingest([docs, tmp_path / "does-not-exist"])
    reasons = {Path(r.source).name: r.reason for r in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.md", "latin1.txt", "photo.jpg", "does-not-exist"}
    assert "empty" in reasons["empty.txt"] and "UTF-8" in reasons["latin1.txt"]
    assert "no such file" in reasons["does-not-exist"]
    assert report.count("added") == 1 and pipe.vectors.count() == 1


def test_interrupted_ingest_leaves_a_usable_index_and_resumes(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(6):
        (docs / f"doc{i}.txt").write_text(ARTICLE.replace("Paragraph", f"Doc {i} paragraph"), encoding="utf-8")
    settings = settings.model_copy(update={"embed_batch_size": 1})
    pipe, counting = _build(settings, embedder, fail_after=40)
    with pytest.raises(KeyboardInterrupt):
        pipe.ingestor.ingest([docs])
    stored = pipe.vectors.count()
    assert 0 < stored <= 40
    # Usable meanwhile: search works on what was stored.
    assert pipe.retriever.search("gas pipeline", top_k=3, floor=-1)
    pipe.close()

    pipe2, counting2 = _build(settings, embedder)
    report = pipe2.ingestor.ingest([docs])
    # Files finished before the interruption are recorded; the rest are completed now.
    assert report.count("unchanged") >= 1 and report.count("added") >= 1
    assert report.count("added") + report.count("unchanged") == 6
    assert len(counting2.texts) == pipe2.vectors.count() - stored, "what was stored is not embedded again"
    assert pipe2.vectors.count() == pipe2.keywords.count()
    assert pipe2.ingestor.ingest([docs]).count("unchanged") == 6


def test_embedding_model_mismatch_is_an_error(settings: Settings, embedder: MiniLMEmbedder, corpus: Path) -> None:
    pipe, _ = _build(settings, embedder)
    pipe.ingestor.ingest([corpus])
    pipe.close()

    other = CountingEmbedder(embedder)
    other.name = "some-other-model"
    with pytest.raises(EmbeddingMismatch, match="all-MiniLM-L6-v2-int8"):
        build(settings, embedder=other)
