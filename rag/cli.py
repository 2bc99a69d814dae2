"""`rag`: ingest documents, ask questions, inspect the index, run the service. Thin over the pipeline."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

from rag.answering.answerer import Answer, AnswerFailed, citation_dict
from rag.answering.verdict import plain_reason
from rag.config import Settings
from rag.retrieval.retriever import Passage

log = logging.getLogger("rag")


def _pipeline(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.pipeline import build

    return build(settings)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    pipe = _pipeline(settings)
    report = pipe.ingestor.ingest([Path(p) for p in args.paths], prune=args.prune, progress=not args.quiet)
    for r in report.results:
        if r.status == "skipped":
            print(f"skipped  {r.source}: {r.reason}", file=sys.stderr)
        elif r.status != "unchanged" or args.verbose:
            detail = f"{r.chunks} chunks, {r.embedded} embedded" if r.status != "removed" else f"{r.deleted} chunks"
            print(f"{r.status:<8} {r.source} ({detail})")
    for r in report.results:
        if r.regrouped and r.status == "unchanged" and not args.verbose:
            print(f"readers  {r.source}")
    print(f"{report.summary()}; index holds {pipe.vectors.count()} chunks")
    if report.embedded:
        from rag.index.embeddings import model_advice

        advice = model_advice(pipe.keywords.languages(), pipe.embedder)
        if advice:
            print(f"note: {advice}", file=sys.stderr)
    return (
        1 if report.skipped and not (report.count("added") + report.count("updated") + report.count("unchanged")) else 0
    )


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.llm.local import local_model

    def starting() -> None:
        print("starting the local model (takes a few seconds; 'rag serve' keeps it running)...", file=sys.stderr)

    pipe = _pipeline(settings)
    with local_model(settings, on_start=starting):
        return _ask(args, settings, pipe)


def _ask(args: argparse.Namespace, settings: Settings, pipe: Any) -> int:
    from rag.access import Reader
    from rag.service import AnswerService, Asker, Rejected

    # Nobody can rate an answer printed in a terminal; whoever runs `rag` may read the index's files anyway.
    cli = Asker("cli", remember=False, reader=Reader.trusted())

    try:
        answer = AnswerService(settings, pipe.answerer).ask_sync(args.question, [], cli, args.top_k).answer
    except Rejected as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AnswerFailed as e:
        if args.json:
            print(
                json.dumps(
                    {
                        "error": {"type": "llm_unavailable", "message": str(e)},
                        "passages": [citation_dict(i, p) for i, p in enumerate(e.passages, 1)],
                    },
                    indent=2,
                )
            )
        else:
            print(f"error: {e}", file=sys.stderr)
            if e.passages:
                print("\nThe most relevant passages found:\n")
                _print_sources(list(enumerate(e.passages, 1)))
        return 2
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def _print_answer(answer: Answer) -> None:
    print(textwrap.fill(answer.answer, width=100))
    why = plain_reason(answer.checks)
    if why:
        print(f"(a drafted answer was withheld: {why})", file=sys.stderr)
    if answer.citations:
        print("\nSources:")
        _print_sources(answer.citations, answer.quotes)
    print(
        f"\n({answer.model}; retrieval {answer.retrieval_ms:.0f} ms, generation {answer.generation_ms:.0f} ms)",
        file=sys.stderr,
    )


def _print_sources(items: list[tuple[int, Passage]], quotes: dict[int, tuple[int, int]] | None = None) -> None:
    for n, p in items:
        span = (quotes or {}).get(n)
        print(f"[{n}] {p.name} ({p.where}; score {p.score:.2f})")
        quote = textwrap.fill(" ".join(p.text.split()), width=96, initial_indent='    "', subsequent_indent="     ")
        print(quote + '"')
        if span:
            said = " ".join(p.text[span[0] - p.start : span[1] - p.start].split())
            print(
                textwrap.fill(
                    said,
                    width=96,
                    initial_indent=f"    supporting sentence, chars {span[0]}-{span[1]}: ",
                    subsequent_indent="     ",
                )
            )


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    pipe = _pipeline(settings)
    records = pipe.keywords.records()
    if args.json:
        print(json.dumps([r.__dict__ for r in records], indent=2))
        return 0
    if not records:
        print("nothing indexed yet: run 'rag ingest seeds/' (or any folder)")
        return 0
    for r in records:  # the CLI is an admin: every document, with who may read it
        print(f"{r.chunks:>5} chunks  {r.date or '':<10}  [{', '.join(r.groups) or 'admins only'}]  {r.source}")
    print(f"{len(records)} documents, {pipe.vectors.count()} chunks in collection '{settings.collection}'")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    pipe = _pipeline(settings)
    status = 0
    for source in args.sources:
        try:
            r = pipe.ingestor.remove(str(Path(source).resolve()) if not source.startswith("/") else source)
            print(f"removed {r.source} ({r.deleted} chunks)")
        except KeyError:
            print(f"error: {source} is not indexed (see 'rag sources')", file=sys.stderr)
            status = 1
    return status


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    shown = settings.shown()
    shown["llm"] = "local model (llama.cpp)" if settings.uses_local_llm else shown["llm_base_url"] or "OpenAI"
    width = max(len(k) for k in shown)
    for k, v in shown.items():
        print(f"{k:<{width}}  {v}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.server import serve

    return serve(settings, host=args.host, port=args.port)


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from rag.llm import model_files as local_model

    if args.action == "install":
        path = local_model.install(settings.models_dir)
        print(f"local model ready: {path}")
    elif args.action == "verify":
        print(f"ok: {local_model.ensure_model(settings.models_dir)}")
    else:
        from rag.llm.server import main as serve_model

        serve_model([])
    return 0


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.feedback import Feedback, FeedbackStore, feedback_path
    from rag.index.storage import make_feedback, pick, where

    def local() -> Feedback | None:  # `rag feedback` creates no file: nothing was rated if there is none
        path = feedback_path(settings.data_dir)
        return FeedbackStore(path) if path.exists() else None

    store: Feedback | None = pick(settings, local=local, shared=lambda _: make_feedback(settings))
    where_ = pick(settings, local=lambda: str(feedback_path(settings.data_dir)), shared=lambda _: where(settings))
    records = store.recent(args.limit, args.rating) if store else []
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return 0
    if not records:
        print(f"no feedback yet in {where_} (people rate answers with the buttons under them, in Slack or the page)")
        return 0
    for r in records:
        d = r.to_dict()
        print(f"{d['at']}  {r.rating:<11}  {r.user}  {r.surface} {r.place}")
        print(textwrap.indent(textwrap.fill(f"Q: {r.question}", 96), "  "))
        print(textwrap.indent(textwrap.fill(f"A: {r.answer}", 96, max_lines=6), "  "))
        if r.comment:
            print(textwrap.indent(textwrap.fill(f"Comment: {r.comment}", 96, max_lines=6), "  "))
        for c in r.citations:
            print(f"    [{c['id']}] {c['name']} (chars {c['start']}-{c['end']})")
    assert store is not None  # records came from it
    counts = store.counts()
    print(f"{len(records)} shown; in all {counts['helpful']} helpful, {counts['not_helpful']} not helpful")
    return 0


def cmd_slack(args: argparse.Namespace, settings: Settings) -> int:
    if not args.socket:
        ready = bool(settings.slack_bot_token and settings.slack_signing_secret)
        state = "ON" if ready else "OFF: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"
        print(f"Slack over HTTP is served by 'rag serve' at POST /slack/events; it is {state}.")
        print("Without a public URL, run 'rag slack --socket' (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN).")
        return 0
    from api.slack import socket as slack_socket
    from rag.llm.local import local_model
    from rag.pipeline import build

    problem = slack_socket.missing_tokens(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(logging.INFO)
    with local_model(settings):
        return slack_socket.run(settings, build(settings))


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.eval.retrieval import DatasetError, evaluate, format_report, load_beir
    from rag.index.embeddings import make_embedder
    from rag.llm.client import make_llm

    try:
        data = load_beir(Path(args.folder), args.split)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.mode:
        settings = settings.model_copy(update={"retrieval_mode": args.mode})
    client = make_llm(settings).client if settings.embedding_backend == "openai" else None
    embedder = make_embedder(settings, client)
    result = evaluate(
        data, settings, embedder, progress=not args.quiet, limit=args.limit, per_language=args.per_language
    )
    print(format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def cmd_eval_answers(args: argparse.Namespace, settings: Settings) -> int:
    from rag.eval import answers as ea
    from rag.eval.naive import NAIVE_SETTINGS, NaiveAnswerer
    from rag.eval.recording import RecordedLLM, Recording
    from rag.eval.retrieval import DatasetError, build_index
    from rag.index.embeddings import make_embedder
    from rag.llm.client import make_llm
    from rag.llm.local import local_model

    try:
        langs = {x.strip() for x in args.lang.split(",") if x.strip()} if args.lang else None
        data = ea.load_qa(Path(args.folder), Path(args.queries) if args.queries else None, langs)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.pipeline == "naive":
        settings = settings.model_copy(update=NAIVE_SETTINGS)
    with local_model(settings, on_start=lambda: print("starting the local model...", file=sys.stderr)):
        llm = make_llm(settings)
        embedder = make_embedder(settings, llm.client if settings.embedding_backend == "openai" else None)
        index = build_index(data.as_beir(), settings, embedder, progress=not args.quiet)
        pipe = index.pipeline
        recording = Recording(Path(args.record)) if args.record else None
        if recording is not None:
            pipe.answerer.llm = RecordedLLM.wrap(pipe.llm, recording)
        ask = (
            NaiveAnswerer(pipe.retriever, pipe.answerer.llm, pipe.answerer.prompts).ask
            if args.pipeline == "naive"
            else pipe.answerer.ask
        )
        concurrency = args.concurrency or (settings.local_llm_parallel if settings.uses_local_llm else 4)
        try:
            questions = ea.sample(data.questions, args.limit)
            verdicts = ea.run(questions, ask, ea.Judge(index, data.corpus), not args.quiet, concurrency, recording)
        finally:
            pipe.close()
    shown = pipe.settings.shown()
    result = ea.AnswerEvalResult(
        data.name,
        args.pipeline,
        ea.summarize(verdicts),
        verdicts,
        {"chunks": pipe.vectors.count(), "collection": pipe.settings.collection, "model": pipe.llm.model},
        {k: v for k, v in shown.items() if not k.startswith(("slack_", "api_keys", "llm_api_key"))},
    )
    print(ea.format_report(result))
    if recording is not None:
        print(f"model replies: {recording.hits} replayed, {recording.misses} asked (recorded in {args.record})")
    if args.json:
        ea.write_json(result, Path(args.json))
        print(f"wrote {args.json}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag",
        description="Answer questions from your own documents, with citations. Offline by default: "
        "a local embedding model and a local LLM; set OPENAI_BASE_URL/OPENAI_API_KEY to use a server.",
        epilog="Settings come from RAG_* environment variables (see 'rag config').",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens (INFO level)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "ingest",
        help="index files or folders (incremental)",
        description=(
            "Index .txt, .md, .html, .pdf, .docx, .pptx and .xlsx files; folders are walked recursively. "
            "Unchanged files cost nothing; changed files re-embed only changed chunks. "
            "Bad files are reported and skipped. Who may read each file comes from the rules file "
            "RAG_ACCESS_FILE (TOML; patterns relative to the folder named here, first match wins); after a rule "
            "changes, running this again updates who may read, re-embedding nothing, and says how many "
            "documents changed readers."
        ),
    )
    s.add_argument("paths", nargs="+", help="files or folders")
    s.add_argument(
        "--prune", action="store_true", help="also drop indexed files under these paths that no longer exist"
    )
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="answer a question from the indexed documents")
    s.add_argument("question")
    s.add_argument("--json", action="store_true", help="machine-readable answer")
    s.add_argument("-k", "--top-k", type=int, default=None, help="passages to retrieve (default RAG_TOP_K)")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser(
        "sources",
        help="list what is indexed, with the groups that may read each document",
        description="Every indexed document, with its chunks, date and the groups that may read it (the CLI "
        "acts as an admin and sees all; 'everyone' = any key, 'admins only' = no group).",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sources)

    s = sub.add_parser("remove", help="drop documents from the index")
    s.add_argument("sources", nargs="+", help="paths as shown by 'rag sources'")
    s.set_defaults(func=cmd_remove)

    s = sub.add_parser("config", help="show the settings in force (secrets masked)")
    s.set_defaults(func=cmd_config)

    s = sub.add_parser("serve", help="run the HTTP API and chat page (uvicorn)")
    s.add_argument("--host", default=None, help="default RAG_HOST (127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="default RAG_PORT (8000)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("model", help="the local LLM: install (assemble + verify), verify, or serve it")
    s.add_argument("action", choices=["install", "verify", "serve"])
    s.set_defaults(func=cmd_model)

    s = sub.add_parser(
        "eval",
        help="measure retrieval quality on a BEIR-format folder (nDCG@10, Recall@10/100, MRR@10, Success@5)",
        description=(
            "Reads corpus.jsonl(.gz), queries.jsonl and qrels/<split>.tsv; indexes the corpus through the normal "
            "pipeline into a separate collection under <data dir>/eval/ (kept for the next run; your own index is "
            "never touched) and runs every query through the retrieval the API uses, with the settings in force. "
            "Queries that carry metadata.lang are reported per language too."
        ),
    )
    s.add_argument("folder", help="a BEIR-format folder, e.g. ../shared/evaldata/cranfield")
    s.add_argument("--split", default=None, help="qrels/<split>.tsv to score (default: dev, else test, else train)")
    s.add_argument("--json", metavar="OUT", help="write metrics, settings and the ranked run (100 docs per query)")
    s.add_argument("--mode", choices=["hybrid", "vector", "keyword"], help="override RAG_RETRIEVAL_MODE")
    s.add_argument("--limit", type=int, default=None, help="score only the first N queries (a quick look)")
    s.add_argument(
        "--per-language",
        type=int,
        metavar="N",
        help="score only the first N queries of each language (metadata.lang), by id: in XQuAD the same questions",
    )
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser(
        "eval-answers",
        help="measure answer quality on a QA folder (correct, F1, refusals, citation precision, seconds)",
        description=(
            "Reads corpus.jsonl(.gz) and queries.jsonl ({_id, text, answers, metadata.doc}; answers [] means the "
            "question must be refused), indexes the corpus into a separate collection under <data dir>/eval/ and "
            "asks every question through the same answer step the API uses, with the settings in force. "
            "Correct = not refused and >= 80%% of a gold answer's SQuAD-normalised tokens in the answer; yes/no "
            "questions (every gold answer starts with yes/no) are scored by the answer's opening yes/no and "
            "reported apart."
        ),
    )
    s.add_argument("folder", help="a QA folder, e.g. ../shared/evaldata/cmu-qa")
    s.add_argument(
        "--limit",
        type=int,
        default=None,
        help="a deterministic sample of N questions: half open, a quarter yes/no, a quarter unanswerable",
    )
    s.add_argument("--json", metavar="OUT", help="write the figures and every question's answer, citations, verdict")
    s.add_argument(
        "--queries",
        metavar="FILE",
        help="questions (JSONL, same shape) about the folder's corpus instead of its queries.jsonl, e.g. multi-part "
        "ones: metadata.parts true, answers = the parts one answer must hold",
    )
    s.add_argument(
        "--pipeline",
        choices=["default", "naive"],
        default="default",
        help="naive: the baseline to beat (dense top-4 ~1,000-character passages, the classic prompt, no checks)",
    )
    s.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="questions asked at once (default: the local model's slots, RAG_LOCAL_LLM_PARALLEL; 4 if remote)",
    )
    s.add_argument(
        "--record",
        metavar="FILE",
        help="JSONL of model replies keyed by their exact request: replies found there are replayed (with the "
        "seconds they took), others are asked and added; a change to the checks then reruns in seconds",
    )
    s.add_argument(
        "--lang",
        metavar="CODES",
        help="only questions whose metadata.lang is one of these (comma-separated, e.g. en,de,zh) and only documents "
        "in them; --limit is then shared evenly among the languages, and the figures are also given per language",
    )
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_eval_answers)

    s = sub.add_parser("feedback", help="list recent feedback on answers (Slack, the chat page, the API), newest first")
    s.add_argument("-n", "--limit", type=int, default=20)
    s.add_argument("--rating", choices=["helpful", "not_helpful"], default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("slack", help="Slack bot status, or run it in Socket Mode (--socket)")
    s.add_argument("--socket", action="store_true", help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    s.set_defaults(func=cmd_slack)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings()
    from rag.access import AccessFileError
    from rag.index.vectors import EmbeddingMismatch, StoreUnavailable
    from rag.llm.client import LLMError
    from rag.llm.model_files import ModelMissing

    try:
        sys.exit(args.func(args, settings))
    except (EmbeddingMismatch, StoreUnavailable, LLMError, ModelMissing, AccessFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted; the index is consistent and the next 'rag ingest' completes it", file=sys.stderr)
        sys.exit(130)
