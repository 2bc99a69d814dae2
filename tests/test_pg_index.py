"""The PostgreSQL keyword index against the SQLite FTS5 one, on a real PostgreSQL started by the suite:
the same chunks in the same order with the same BM25 scores, the same manifest, and its document
frequencies and lengths exact through adds and deletes."""

from __future__ import annotations

import math
import random
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from rag.index.keyword import KeywordIndex
from rag.index.postgres import PgKeywordIndex, row_postings
from rag.index.terms import chunk_terms
from rag.text import terms

# fmt: off
VOCAB = [
    "wind", "turbine", "turbines", "blade", "blades", "ridge", "slowly", "westerly", "technology", "technologies",
    "possibly", "assembly", "naïve", "café", "Straße", "running", "runs", "runner", "flow", "flows", "boundary",
    "layer", "laminar", "heat", "transfer", "pressure", "supersonic", "x_y", "3d", "1.5", "the", "of", "and", "in",
    "a", "to", "is", "was",
]
# fmt: on
TITLES = ["Wind turbines", "Boundary layer flow", "Heat transfer", "The café", "", "Supersonic pressure"]


def corpus(n: int, seed: int = 7) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(source, title, [(chunk id, text)]): word salads with skewed frequencies, so scores rarely tie."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(VOCAB))]
    docs = []
    for d in range(n):
        items = []
        for c in range(rng.randint(1, 4)):
            words = rng.choices(VOCAB, weights, k=rng.randint(5, 60))
            items.append((f"doc{d}-chunk{c}", " ".join(words)))
        docs.append((f"/docs/doc{d}.md", rng.choice(TITLES), items))
    return docs


@pytest.fixture
def both(tmp_path: Path, postgres_url: str) -> tuple[KeywordIndex, PgKeywordIndex]:
    lite, pg = KeywordIndex(tmp_path / "keyword.sqlite"), PgKeywordIndex(postgres_url, "parity")
    for source, title, items in corpus(60):
        lite.add(source, title, items)
        pg.add(source, title, items)
    yield lite, pg
    lite.close()
    pg.close()


RAW_QUERIES = [
    ["turbine"],
    ["technology"],
    ["naive"],
    ["strasse", "straße"],
    ["wind", "flow", "heat"],
    ["running", "runs"],  # one stem twice: FTS5 counts the phrase twice
    ["wind turbine"],
    ["boundary layer", "heat transfer", "supersonic"],
    ["wind"],  # in more than half of the rows: idf clamped
    ["3d"],
    ["nothing", "here"],
    ["possibly assembly", "blade", "café"],
]
# search_any takes analysed terms, a phrase as terms joined by a space (rag/index/terms.py).
QUERIES = [[" ".join(terms(p, "en")) for p in phrases] for phrases in RAW_QUERIES]


@pytest.mark.parametrize("title_weight", [2.0, 1.0, 0.0, 5.5])
def test_postgres_ranks_exactly_as_fts5(both: tuple[KeywordIndex, PgKeywordIndex], title_weight: float) -> None:
    lite, pg = both
    for phrases in QUERIES:
        want, got = lite.search_any(phrases, 50, title_weight), pg.search_any(phrases, 50, title_weight)
        assert [c for c, _ in got] == [c for c, _ in want], phrases
        for (_, a), (_, b) in zip(got, want, strict=True):
            assert math.isclose(a, b, rel_tol=1e-6), (phrases, a, b)
    assert pg.search("turbines on the westerly ridge", 10) and pg.search("turbines on the westerly ridge", 10) == [
        (c, pytest.approx(s, rel=1e-6)) for c, s in lite.search("turbines on the westerly ridge", 10)
    ]


def test_limit_and_empty_queries(both: tuple[KeywordIndex, PgKeywordIndex]) -> None:
    lite, pg = both
    assert [c for c, _ in pg.search_any(["flow", "wind"], 3)] == [c for c, _ in lite.search_any(["flow", "wind"], 3)]
    assert pg.search_any([], 10) == [] and pg.search_any(["", "  "], 10) == [] and pg.search("the of", 10) == []


def test_document_frequencies_and_counts_match_fts5(both: tuple[KeywordIndex, PgKeywordIndex]) -> None:
    lite, pg = both
    stems = sorted({t for w in VOCAB for t in terms(w, "en")} | {"absent"})
    assert pg.doc_freq(stems) == lite.doc_freq(stems)
    assert pg.count() == lite.count()
    assert pg.chunk_sources() == lite.chunk_sources()
    assert pg.sources_with_chunks() == lite.sources_with_chunks()
    assert pg.chunk_ids("/docs/doc3.md") == lite.chunk_ids("/docs/doc3.md")


def test_chunk_texts_are_kept_and_a_failed_transaction_writes_nothing(
    both: tuple[KeywordIndex, PgKeywordIndex],
) -> None:
    """Chroma keeps only vectors and positions: the text comes from here, on both backends alike."""
    lite, pg = both
    ids = sorted(lite.chunk_sources())[:25] + ["absent"]
    assert pg.texts(ids) == lite.texts(ids) and len(pg.texts(ids)) == 25
    for index in both:
        before = index.count()
        with pytest.raises(RuntimeError), index.transaction():
            index.add("/docs/new.md", "New", [("new-1", "a chunk that is rolled back")])
            raise RuntimeError("killed mid-step")
        assert index.count() == before and index.texts(["new-1"]) == {}


def recomputed(texts: dict[str, tuple[str, str]]) -> tuple[Counter[str], int, int]:
    """df of every term, N and total length, from the texts the index should hold."""
    df: Counter[str] = Counter()
    total = 0
    for title, text in texts.values():
        counts, length = row_postings(title, text)
        df.update(t for t in counts if " " not in t)  # pairs' frequencies are counted from their postings
        total += length
    return df, len(texts), total


def stored(url: str, collection: str) -> tuple[Counter[str], int, int, dict[str, int]]:
    with psycopg.connect(url) as db:
        cid, n, total = db.execute(
            "SELECT id, n_chunks, n_tokens FROM rag_collections WHERE name = %s", (collection,)
        ).fetchone()
        df = Counter(dict(db.execute("SELECT term, df FROM rag_terms WHERE collection = %s", (cid,)).fetchall()))
        # The postings agree with the df rows, and every posting carries its chunk's length.
        from_postings = Counter(
            dict(
                db.execute(
                    "SELECT term, count(*) FROM rag_postings WHERE collection = %s AND strpos(term, ' ') = 0 "
                    "GROUP BY term",
                    (cid,),
                ).fetchall()
            )
        )
        assert from_postings == df
        bad = db.execute(
            "SELECT count(*) FROM rag_postings p JOIN rag_chunks c ON c.id = p.chunk WHERE p.length <> c.length"
        ).fetchone()[0]
        assert bad == 0
        lengths = dict(db.execute("SELECT chunk_id, length FROM rag_chunks WHERE collection = %s", (cid,)).fetchall())
    return df, n, total, lengths


def test_adds_and_deletes_keep_frequencies_and_lengths_exact(postgres_url: str) -> None:
    pg = PgKeywordIndex(postgres_url, "books")
    texts: dict[str, tuple[str, str]] = {}
    docs = corpus(30, seed=3)
    for source, title, items in docs:
        pg.add(source, title, items)
        texts.update({cid: (title, text) for cid, text in items})
    pg.add(docs[0][0], docs[0][1], docs[0][2])  # present already: left alone
    rng = random.Random(1)
    gone = rng.sample(sorted(texts), 25)
    pg.delete([*gone, "never-added"])
    for cid in gone:
        del texts[cid]
    pg.add("/docs/new.md", "New title", [("new-1", "wind wind turbine"), ("new-1", "repeated id"), ("new-2", "")])
    texts.update({"new-1": ("New title", "wind wind turbine"), "new-2": ("New title", "")})
    df, n, total, lengths = stored(postgres_url, "books")
    want_df, want_n, want_total = recomputed(texts)
    assert (df, n, total) == (want_df, want_n, want_total)
    assert lengths == {cid: chunk_terms(t, x).length for cid, (t, x) in texts.items()}
    assert pg.count() == len(texts)
    pg.delete(sorted(texts))
    assert stored(postgres_url, "books")[:3] == (Counter(), 0, 0)
    assert pg.search("wind", 10) == [] and pg.doc_freq(["wind"]) == {}
    pg.close()


def test_manifest_round_trip(postgres_url: str, tmp_path: Path) -> None:
    pg, lite = PgKeywordIndex(postgres_url, "manifest"), KeywordIndex(tmp_path / "k.sqlite")
    for index in (pg, lite):
        assert index.record("/a.md") is None and index.records() == []
        index.put_record("/b.md", "f" * 64, "Bee", None, 3, ())
        index.put_record("/a.md", "0" * 64, "Ay", "2024-05-01", 2, (0, 120, 480))
        index.put_record("/b.md", "e" * 64, "Bee two", None, 4, (0,))  # replaced
    for index in (pg, lite):
        a, b = index.record("/a.md"), index.record("/b.md")
        assert a is not None and (a.sha256, a.title, a.date, a.chunks, a.page_starts) == (
            "0" * 64,
            "Ay",
            "2024-05-01",
            2,
            (0, 120, 480),
        )
        assert b is not None and (b.sha256, b.title, b.chunks, b.page_starts) == ("e" * 64, "Bee two", 4, (0,))
        assert [r.source for r in index.records()] == ["/a.md", "/b.md"]
        index.forget("/a.md")
        assert [r.source for r in index.records()] == ["/b.md"]
    assert PgKeywordIndex(postgres_url, "other").records() == [], "collections share a database, not a manifest"
    pg.close()
    lite.close()


def test_collections_in_one_database_do_not_see_each_other(postgres_url: str) -> None:
    one, two = PgKeywordIndex(postgres_url, "one"), PgKeywordIndex(postgres_url, "two")
    one.add("/x.md", "Turbines", [("c1", "wind turbine blades")])
    two.add("/y.md", "Orchard", [("c2", "apple trees and wind")])
    assert [c for c, _ in one.search("wind", 10)] == ["c1"] and [c for c, _ in two.search("wind", 10)] == ["c2"]
    assert one.count() == two.count() == 1 and one.doc_freq(["appl"]) == {}
    one.close()
    two.close()


def test_replicas_starting_at_once_on_an_empty_database_all_open_it(postgres_url: str) -> None:
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_index(i: int) -> None:
        try:
            start.wait()
            PgKeywordIndex(postgres_url, f"c{i % 2}").close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=open_index, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_a_dropped_connection_is_replaced(postgres_url: str) -> None:
    pg = PgKeywordIndex(postgres_url, "restart")
    pg.add("/x.md", "", [("c1", "wind")])
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    with pytest.raises(psycopg.OperationalError):
        pg.count()  # the query in flight when the server dropped us fails...
    assert pg.count() == 1  # ...and the next one reconnects
    pg.close()


def test_fts5_stores_each_analysed_term_whole(tmp_path: Path) -> None:
    """The SQLite index's `ascii` tokenizer splits the analysed terms at spaces only: Hindi and Thai vowel signs,
    Chinese words and German stems reach FTS5 as rag/index/terms.py made them, which the PostgreSQL index stores."""
    index = KeywordIndex(tmp_path / "k.sqlite")
    rows = {
        "de": ("Krankenhäuser", "Die Bundesregierung beschließt neue Maßnahmen für Krankenhäuser und Straßen."),
        "zh": ("经济", "中华人民共和国的经济发展很快，北京大学的学生学习经济学。"),
        "hi": ("भाषा", "हिन्दी भाषा बोलने वाले लोग भारत में रहते हैं।"),
        "th": ("ภาษา", "ภาษาไทยเป็นภาษาที่สวยงามและมีประวัติยาวนาน"),
        "en": ("Café", "Café naïve STRASSE x_y 1.5e10 technology possibly assembly µm αβγs"),
    }
    for lang, (title, text) in rows.items():
        index.add(f"/{lang}.md", title, [(lang, text)])
    db = sqlite3.connect(str(tmp_path / "k.sqlite"))
    db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, chunks_fts, 'instance')")
    for lang, (title, text) in rows.items():
        want = chunk_terms(title, text)
        (rowid,) = db.execute("SELECT rowid FROM chunks WHERE chunk_id = ?", (lang,)).fetchone()
        got = db.execute("SELECT col, term FROM temp.v WHERE doc = ? ORDER BY col, offset", (rowid,)).fetchall()
        assert [t for c, t in got if c == "title_terms"] == want.title and want.title
        assert [t for c, t in got if c == "text_terms"] == want.text and want.text
        assert db.execute("SELECT lang FROM chunks WHERE rowid = ?", (rowid,)).fetchone()[0] == lang == want.lang
    db.close()
    index.close()
