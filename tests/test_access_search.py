"""Who may read what, enforced inside the search (issue 20), on both backends: SQLite FTS5 + Chroma on disk, and
PostgreSQL + Chroma. Documents of three kinds (group hr only, hr and eng, public) and two readers (hr, eng):
each finds only what it may read, the top k stays full when the best matches are another group's, a chunk
asked for by id is not read for a reader who may not read it, and a changed rule re-embeds nothing."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.access import EVERYONE, Reader
from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.index.keyword import document_id
from rag.index.readable import readable_records, readable_source
from rag.ingest.uploads import Uploads
from rag.pipeline import Pipeline, build
from rag.service import AnswerService, Asker
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import CountingEmbedder

HR = Reader("ann", frozenset({"hr"}))
ENG = Reader("bob", frozenset({"eng"}))
K = 5
PAY_QUESTION = "salary band pay range for each grade"

RULES = """
[[rules]]
path = "hr/**"
groups = ["hr"]
[[rules]]
path = "shared/**"
groups = ["hr", "eng"]
[[rules]]
path = "eng/**"
groups = ["eng"]
"""


def pay_bands() -> str:
    """One long hr-only document: many chunks, every one the best match for PAY_QUESTION."""
    paragraphs = [
        f"Salary band {g}. The pay range for grade {g} runs from {30 + 4 * g} to {38 + 5 * g} thousand euros a year. "
        f"Each grade's salary band is reviewed every spring, and a move within the band follows the yearly pay "
        f"review for grade {g} staff. Salary bands for grade {g} are confidential to human resources."
        for g in range(1, 61)
    ]
    return "# Salary bands by grade\n\n" + "\n\n".join(paragraphs) + "\n"


def write_corpus(root: Path) -> dict[str, Path]:
    files = {
        "hr/pay-bands.md": pay_bands(),
        "hr/leave.md": "# Parental leave\n\nParental leave is sixteen weeks at full pay, booked with HR.\n",
        "shared/handbook.md": (
            "# Staff handbook\n\nNew starters get a laptop on day one. Your first salary is paid at the end "
            "of the month. The handbook covers onboarding for HR and engineering alike.\n"
        ),
        "eng/deploy.md": (
            "# Deploy pipeline\n\nEvery merge runs the canary release first; the deploy pipeline rolls back "
            "on a failed health check. Engineers on call own the rollback.\n"
        ),
        "public/canteen.md": "# Canteen\n\nThe canteen serves lunch from noon; the menu is posted on Mondays.\n",
        "public/parking.md": "# Parking\n\nVisitors park in bay C; staff parking permits are renewed each year.\n",
        "public/wifi.md": "# Wifi\n\nThe guest wifi password changes every week and is shown at reception.\n",
        "public/holidays.md": "# Public holidays\n\nThe office is closed on public holidays and the day after.\n",
        "board/deck.md": "# Board deck\n\nThe board approved the merger with Northwind for next quarter.\n",
    }
    out = {}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out[rel] = path
    return out


def readable_by(reader: Reader, default_everyone: bool = True) -> set[str]:
    """The relative paths of write_corpus's documents this reader may read, by the RULES."""
    common = {"shared/handbook.md", "public/canteen.md", "public/parking.md", "public/wifi.md", "public/holidays.md"}
    if default_everyone:
        common.add("board/deck.md")
    own = {"hr": {"hr/pay-bands.md", "hr/leave.md"}, "eng": {"eng/deploy.md"}}
    return common | {p for g in reader.groups for p in own.get(g, set())}


class Index:
    """One pipeline over the corpus on a backend, with the rules file it ingests by."""

    def __init__(self, pipe: Pipeline, docs: Path, rules: Path, embedder: CountingEmbedder) -> None:
        self.pipe, self.docs, self.rules, self.embedder = pipe, docs, rules, embedder

    def rel(self, source: str) -> str:
        return Path(source).relative_to(self.docs.resolve()).as_posix()

    def sources(self, passages: list[Any]) -> set[str]:
        return {self.rel(p.source) for p in passages}

    def chunk_sources(self) -> dict[str, str]:
        return {cid: self.rel(s) for cid, s in self.pipe.keywords.chunk_sources().items()}


@pytest.fixture(params=["sqlite", "postgres"])
def make_index(
    request: pytest.FixtureRequest, settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> Iterator[Callable[..., Index]]:
    """Build (and ingest) an index over the corpus with the given rules text, on the parametrized backend."""
    opened: list[Pipeline] = []

    def make(rules_text: str = RULES, **overrides: Any) -> Index:
        docs = tmp_path / "docs"
        if not docs.exists():
            write_corpus(docs)
        rules = tmp_path / "access.toml"
        rules.write_text(rules_text, encoding="utf-8")
        values: dict[str, Any] = {"access_file": rules, "candidate_pool": 10, "top_k": K, **overrides}
        chroma_client = None
        if request.param == "postgres":
            values["database_url"] = request.getfixturevalue("postgres_url")
            chroma_client = chromadb.PersistentClient(
                path=str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
            )
        counting = CountingEmbedder(embedder)
        pipe = build(settings.model_copy(update=values), embedder=counting, chroma_client=chroma_client)  # type: ignore[arg-type]
        opened.append(pipe)
        pipe.ingestor.ingest([docs])
        return Index(pipe, docs, rules, counting)

    yield make
    for pipe in opened:
        pipe.close()


QUESTIONS = [
    PAY_QUESTION,
    "parental leave weeks",
    "canary release rollback deploy pipeline",
    "laptop on day one for new starters",
    "guest wifi password",
    "board merger Northwind",
]


def test_each_reader_finds_only_what_it_may_read(make_index: Callable[..., Index]) -> None:
    index = make_index()
    r = index.pipe.retriever
    for reader in (HR, ENG):
        allowed = readable_by(reader)
        found: set[str] = set()
        for q in QUESTIONS:
            for mode in ("hybrid", "vector", "keyword"):
                got = index.sources(r.ranked(q, 50, mode, reader))  # type: ignore[arg-type]
                assert got <= allowed, (reader.user, q, mode, got - allowed)
                found |= got
            ids = r.ranked_ids(q, 50, reader=reader)
            assert {index.chunk_sources()[cid] for cid in ids} <= allowed
        assert found == allowed  # not vacuous: every readable document is found by some question
    # The keyword index alone, both kinds of query (words and phrases), filtered inside the SQL.
    for reader in (HR, ENG):
        for q in QUESTIONS:
            hits = index.pipe.keywords.search(q, 50, allowed=reader.allowed())
            assert {index.chunk_sources()[cid] for cid, _ in hits} <= readable_by(reader)
    assert index.rel(r.ranked("canary release rollback", 1, reader=ENG)[0].source) == "eng/deploy.md"
    assert "eng/deploy.md" not in index.sources(r.ranked("canary release rollback", 50, reader=HR))


def test_top_k_is_full_when_the_best_matches_are_unreadable(make_index: Callable[..., Index]) -> None:
    index = make_index()
    r = index.pipe.retriever
    # Unfiltered, the hr document holds more than a candidate pool's worth of the best matches: cutting its
    # chunks from the candidates after the search would leave eng nothing at all...
    pool = index.pipe.settings.candidate_pool
    assert index.sources(r.ranked(PAY_QUESTION, pool)) == {"hr/pay-bands.md"}
    pay = {cid for cid, s in index.chunk_sources().items() if s == "hr/pay-bands.md"}
    assert len(pay) > 2 * pool
    # ...and still eng gets a full top k, of what it may read, in every mode: nothing cut after the search.
    for mode in ("hybrid", "vector"):
        got = r.ranked(PAY_QUESTION, K, mode, ENG)  # type: ignore[arg-type]
        assert len(got) == K and not {p.chunk_id for p in got} & pay
        assert index.sources(got) <= readable_by(ENG)
    got = r.search(PAY_QUESTION, K, floor=-1.0, reader=ENG)
    assert len(got) == K and not {p.chunk_id for p in got} & pay
    assert len(r.ranked_ids(PAY_QUESTION, K, reader=ENG)) == K
    # The keyword side alone: "salary" is in the handbook and "pay" in the leave policy; eng gets the handbook.
    words = index.pipe.keywords.search(PAY_QUESTION, K, allowed=ENG.allowed())
    assert [index.chunk_sources()[cid] for cid, _ in words] == ["shared/handbook.md"]
    assert len(index.pipe.keywords.search(PAY_QUESTION, K, allowed=HR.allowed())) == K


def test_a_chunk_asked_for_by_id_is_read_only_if_readable(make_index: Callable[..., Index]) -> None:
    index = make_index()
    by_source = index.chunk_sources()
    pay = sorted(cid for cid, s in by_source.items() if s == "hr/pay-bands.md")
    handbook = sorted(cid for cid, s in by_source.items() if s == "shared/handbook.md")
    r = index.pipe.retriever
    chunks, vecs = r.read(pay + handbook, with_vectors=True, allowed=ENG.allowed())
    assert [c.chunk_id for c in chunks] == handbook and vecs is not None and len(vecs) == len(handbook)
    assert r.read(pay, allowed=ENG.allowed()) == ([], None)
    assert len(r.read(pay, allowed=HR.allowed())[0]) == len(pay)
    assert len(r.read(pay)[0]) == len(pay)  # no reader: no filter (evaluation, the CLI)


def test_a_rule_change_updates_readers_without_re_embedding(make_index: Callable[..., Index]) -> None:
    index = make_index()
    r = index.pipe.retriever
    assert "hr/leave.md" not in index.sources(r.ranked("parental leave weeks", 50, reader=ENG))
    embedded = len(index.embedder.texts)  # a search embeds its question: counted from here, around each ingest

    index.rules.write_text(RULES.replace('path = "hr/**"\ngroups = ["hr"]', 'path = "hr/**"\ngroups = ["hr", "eng"]'))
    report = index.pipe.ingestor.ingest([index.docs])
    assert report.regrouped == 2 and report.count("unchanged") == len(report.results)
    assert "2 changed readers" in report.summary()
    assert len(index.embedder.texts) == embedded  # nothing re-embedded
    assert "hr/leave.md" in index.sources(r.ranked("parental leave weeks", 50, reader=ENG))
    assert {"hr/pay-bands.md", "hr/leave.md"} <= {
        index.rel(d.source) for d in readable_records(index.pipe.keywords, ENG)
    }

    index.rules.write_text(RULES.replace('groups = ["hr"]', 'groups = ["finance"]'))  # hr loses, finance gains
    embedded = len(index.embedder.texts)
    report = index.pipe.ingestor.ingest([index.docs])
    assert report.regrouped == 2 and len(index.embedder.texts) == embedded
    for reader in (HR, ENG):  # the groups removed are really gone: from Chroma's metadata and the manifest
        got = index.sources(r.ranked("parental leave weeks salary band", 50, reader=reader))
        assert not got & {"hr/pay-bands.md", "hr/leave.md"}
        hits = index.pipe.keywords.search("parental leave salary", 50, allowed=reader.allowed())
        assert not {index.chunk_sources()[cid] for cid, _ in hits} & {"hr/pay-bands.md", "hr/leave.md"}
    finance = Reader("cy", frozenset({"finance"}))
    assert "hr/leave.md" in index.sources(r.ranked("parental leave weeks", 50, reader=finance))
    pay = [cid for cid, s in index.chunk_sources().items() if s == "hr/pay-bands.md"]
    metas = index.pipe.vectors.collection.get(ids=pay, include=["metadatas"])["metadatas"]
    assert {k for m in metas for k in m if k.startswith("grp:")} == {"grp:finance"}
    record = index.pipe.keywords.record(str((index.docs / "hr/leave.md").resolve()))
    assert record is not None and record.groups == ("finance",)

    # A changed file whose rule changed too: its kept chunks lose the old group, its new chunks get only the new one.
    pay_file = index.docs / "hr/pay-bands.md"
    pay_file.write_text(pay_bands() + "\nSalary band 61. A new grade for principal staff, from 200 thousand euros.\n")
    index.rules.write_text(RULES)
    embedded = len(index.embedder.texts)
    report = index.pipe.ingestor.ingest([index.docs])
    assert report.count("updated") == 1 and report.regrouped == 2
    assert 0 < len(index.embedder.texts) - embedded < len(pay)  # most chunks kept, not re-embedded
    pay = [cid for cid, s in index.chunk_sources().items() if s == "hr/pay-bands.md"]
    metas = index.pipe.vectors.collection.get(ids=pay, include=["metadatas"])["metadatas"]
    assert {k for m in metas for k in m if k.startswith("grp:")} == {"grp:hr"}
    assert "hr/pay-bands.md" not in index.sources(r.ranked(PAY_QUESTION, 50, reader=finance))


def test_default_nobody_hides_documents_no_rule_names(make_index: Callable[..., Index]) -> None:
    index = make_index('default = "nobody"\n' + RULES + '\n[[rules]]\npath = "public/**"\ngroups = ["everyone"]\n')
    r = index.pipe.retriever
    for reader in (HR, ENG, Reader.public()):
        got = index.sources(r.ranked("board merger Northwind", 50, reader=reader))
        assert "board/deck.md" not in got and got  # others' documents still found
        listed = {index.rel(d.source) for d in readable_records(index.pipe.keywords, reader)}
        assert "board/deck.md" not in listed
        board = str((index.docs / "board/deck.md").resolve())
        assert readable_source(index.pipe.keywords, reader, document_id(board)) is None
    assert index.rel(r.ranked("board merger Northwind", 1)[0].source) == "board/deck.md"  # no reader: all
    admin = Reader.public(admin=True)
    assert index.rel(r.ranked("board merger Northwind", 1, reader=admin)[0].source) == "board/deck.md"
    listed = {index.rel(d.source): d.groups for d in readable_records(index.pipe.keywords, Reader.trusted())}
    assert listed["board/deck.md"] == () and listed["public/wifi.md"] == (EVERYONE,)
    assert listed["shared/handbook.md"] == ("hr", "eng")
    assert {index.rel(d.source) for d in readable_records(index.pipe.keywords, ENG)} == readable_by(ENG, False)


def test_no_reader_ranks_exactly_as_an_index_without_rules(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    """`rag eval` asks with no reader: the same ranking as before rules existed, everything readable."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    rules = tmp_path / "access.toml"
    rules.write_text('default = "nobody"\n' + RULES)
    ruled = build(settings.model_copy(update={"access_file": rules, "collection": "ruled"}), embedder=embedder)
    plain = build(settings.model_copy(update={"collection": "plain"}), embedder=embedder)
    try:
        for pipe in (ruled, plain):
            pipe.ingestor.ingest([docs])
        for q in QUESTIONS:
            assert ruled.retriever.ranked_ids(q, 30) == plain.retriever.ranked_ids(q, 30)
            assert ruled.retriever.ranked_ids(q, 30, reader=Reader.trusted()) == plain.retriever.ranked_ids(q, 30)
        # Without a rules file every document is everyone's: a public key reads what it read before.
        assert {r.groups for r in plain.keywords.records()} == {(EVERYONE,)}
        assert plain.retriever.ranked_ids(PAY_QUESTION, 30, reader=Reader.public()) == plain.retriever.ranked_ids(
            PAY_QUESTION, 30
        )
    finally:
        ruled.close()
        plain.close()


def test_answers_draw_on_the_askers_documents_only(make_index: Callable[..., Index], fake_llm: FakeOpenAI) -> None:
    index = make_index()
    service = AnswerService(index.pipe.settings, index.pipe.answerer)
    finished = service.ask_sync(PAY_QUESTION, [], Asker("api", "bob", remember=False, reader=ENG))
    assert finished.answer.passages and index.sources(finished.answer.passages) <= readable_by(ENG)
    prompts = " ".join(str(m.get("content", "")) for req in fake_llm.requests for m in req.get("messages", []))
    assert "Salary band" not in prompts and "confidential to human resources" not in prompts
    fake_llm.requests.clear()
    finished = service.ask_sync(PAY_QUESTION, [], Asker("api", "ann", remember=False, reader=HR))
    assert "hr/pay-bands.md" in index.sources(finished.answer.passages)
    # A surface that does not say who asks gets what everyone may read, never everything.
    default = service.ask_sync(PAY_QUESTION, [], Asker("api", remember=False))
    assert index.sources(default.answer.passages) <= readable_by(Reader.public())


def test_uploads_are_readable_by_the_groups_their_caller_gives(make_index: Callable[..., Index]) -> None:
    index = make_index()
    pipe = index.pipe
    uploads = Uploads(pipe.originals, pipe.ingestor, pipe.settings.uploads_dir / ".staging")
    text = b"# Bonus scheme\n\nThe quarterly bonus scheme pays out in April and October.\n"
    [res] = uploads.add([("bonus.md", io.BytesIO(text))], groups=("hr",))
    assert res.status == "added" and pipe.keywords.record(res.source).groups == ("hr",)  # type: ignore[union-attr]
    assert res.source in {p.source for p in pipe.retriever.ranked("quarterly bonus scheme", 5, reader=HR)}
    assert res.source not in {p.source for p in pipe.retriever.ranked("quarterly bonus scheme", 50, reader=ENG)}
    # The same bytes again with other groups: unchanged, and re-grouped without embedding.
    embedded = len(index.embedder.texts)
    [res] = uploads.add([("bonus.md", io.BytesIO(text))], groups=("eng",))
    assert res.status == "unchanged" and len(index.embedder.texts) == embedded
    assert res.source in {p.source for p in pipe.retriever.ranked("quarterly bonus scheme", 5, reader=ENG)}
    assert res.source not in {p.source for p in pipe.retriever.ranked("quarterly bonus scheme", 50, reader=HR)}
    # Without groups, the rules file decides by the stored name (no rule names it: everyone).
    [res] = uploads.add([("canteen-menu.md", io.BytesIO(b"# Menu\n\nSoup on Fridays.\n"))])
    assert pipe.keywords.record(res.source).groups == (EVERYONE,)  # type: ignore[union-attr]
