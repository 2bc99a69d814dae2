"""The chat page at /, driven in Debian's chromium (Playwright, headless) against the real API on loopback.

The LLM is the real-HTTP fake from conftest, so answers are fast and known. Every page visit records each
request the browser makes and fails if one goes anywhere but the server's own origin.
Set RAG_SCREENSHOT=1 to also answer a question with the real local model and save docs/screenshot.png.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect, sync_playwright

from api.app import create_app
from api.routes.page import STATIC
from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from tests.conftest import ROOT, SEEDS, LiveServer, free_port, make_settings
from tests.fakes.openai_server import FakeOpenAI, claims_reply, default_reply, sentences_in

CHROMIUM = os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium")
# Headless and quiet: no sandbox (containers), no GPU, and none of Chrome's own calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
SEED_NAME = next(SEEDS.iterdir()).name
SEED_TEXT = next(SEEDS.iterdir()).read_text(encoding="utf-8")
QUESTION = "What does Serbia want to import from Azerbaijan?"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium ('make browser' or apt-get install -y chromium)")
    with sync_playwright() as pw:
        # launch() gives every run a fresh temporary profile (user-data-dir), removed on close.
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@dataclass
class Visit:
    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # uncaught script errors and CSP violations

    def foreign(self) -> list[str]:
        return [u for u in self.requests if not (u == self.origin or u.startswith(self.origin + "/"))]


@pytest.fixture
def visit(browser: Browser) -> Iterator[Callable[..., Visit]]:
    """Open the page in a fresh browser context; afterwards, fail on any request to another origin."""
    visits: list[Visit] = []

    def open_page(origin: str, **context: Any) -> Visit:
        ctx = browser.new_context(**context)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        v = Visit(page, origin)
        page.on("request", lambda r: v.requests.append(r.url))
        page.on("pageerror", lambda e: v.problems.append(f"script error: {e}"))

        def console(m: ConsoleMessage) -> None:
            # A failed fetch (a 401, say) is logged by chromium as "Failed to load resource": that is the page
            # doing its job. Anything else logged as an error (a CSP refusal, a bad module) is a defect.
            if m.type == "error" and "Failed to load resource" not in m.text:
                v.problems.append(m.text)

        page.on("console", console)
        page.goto(origin + "/")
        visits.append(v)
        return v

    yield open_page
    for v in visits:
        v.page.context.close()
    for v in visits:
        assert v.requests, "the request listener saw nothing"
        assert v.foreign() == [], f"the page made requests to other hosts: {v.foreign()}"
        assert v.problems == [], v.problems


def ask(page: Page, question: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def last_answer(page: Page, timeout: float = WAIT_MS) -> Any:
    """The newest answer, once it is finished (streamed, stopped or failed)."""
    bot = page.locator(".turn").last.locator(".msg.bot")
    expect(bot).to_have_attribute("aria-busy", "false", timeout=timeout)
    return bot


def record_answer_growth(page: Page) -> None:
    # Each render of a streamed token changes the answer; record its length each time it changes.
    page.evaluate(
        """() => {
        window.growth = [];
        window.growthText = [];
        new MutationObserver(() => {
          const a = document.querySelector('.turn:last-child .answer');
          const n = a ? a.textContent.length : 0;
          if (n && n !== window.growth.at(-1)) { window.growth.push(n); window.growthText.push(a.textContent); }
        }).observe(document.getElementById('log'), {childList: true, subtree: true, characterData: true});
    }"""
    )


def test_question_streams_an_answer_whose_citation_opens_the_passage(
    live: LiveServer, visit: Callable[..., Visit]
) -> None:
    v = visit(live.url)
    page = v.page
    expect(page.locator("#doc-list")).to_contain_text(SEED_NAME)
    record_answer_growth(page)
    ask(page, QUESTION)
    bot = last_answer(page)

    growth = page.evaluate("window.growth")
    assert len(growth) >= 3 and growth[0] < growth[1] < growth[2], growth  # it grew token by token
    assert "{" not in page.evaluate("window.growthText.join(' ')")  # never the model's raw JSON
    expect(bot.locator(".answer")).to_contain_text("Azerbaijan")
    cite = bot.locator(".answer button.cite").first
    # Which passage number holds the answer is retrieval's business; the marker names a real passage.
    expect(cite).to_have_text(re.compile(r"^\[\d\]$"))
    expect(bot.locator(".sources")).to_contain_text(SEED_NAME)

    cite.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#passage-title")).to_contain_text(SEED_NAME)
    expect(dialog.locator("#passage-where")).to_contain_text("characters")
    passage = dialog.locator("#passage-text").inner_text().strip()
    assert len(passage) > 50 and passage in SEED_TEXT  # the exact text of the document, not a paraphrase
    # The sentence the answer rests on is marked inside the passage, and it is in the answer's words.
    marked = dialog.locator("#passage-text mark.quote").inner_text().strip()
    assert marked and marked in passage and len(marked) < len(passage)
    answer_text = bot.locator(".answer").inner_text()
    assert marked.rstrip(".") in answer_text  # the fake model answers with the sentence it quoted
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # The sources list under the answer opens the same passage.
    bot.locator(".source-open").first.click()
    expect(page.locator("#passage-text")).to_have_text(passage)
    page.get_by_role("button", name="Close the passage").click()
    assert f"{live.url}/v1/ask/stream" in v.requests


def test_follow_up_sends_the_history_and_new_chat_clears_it(live: LiveServer, visit: Callable[..., Visit]) -> None:
    page = visit(live.url).page
    bodies: list[dict[str, Any]] = []

    def sent(r: Request) -> None:
        if r.url.endswith("/v1/ask/stream"):
            bodies.append(json.loads(r.post_data or "{}"))

    page.on("request", sent)

    ask(page, QUESTION)
    first = last_answer(page).locator(".answer").inner_text()
    ask(page, "and what about oil?")
    last_answer(page)
    expect(page.locator(".turn")).to_have_count(2)
    assert bodies[0]["history"] == []
    (asked, answered) = bodies[1]["history"]
    assert asked == {"role": "user", "content": QUESTION}
    assert answered["role"] == "assistant" and answered["content"].split() == first.split()

    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".turn")).to_have_count(0)
    ask(page, QUESTION)
    last_answer(page)
    assert bodies[2]["history"] == []

    # Shift+Enter adds a line and sends nothing; Enter sends.
    box = page.get_by_label("Your question")
    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    assert box.input_value() == "line one\nline two"
    assert len(bodies) == 3


def test_upload_a_document_then_ask_about_it(live: LiveServer, visit: Callable[..., Visit]) -> None:
    page = visit(live.url).page
    expect(page.locator("#doc-list")).to_contain_text(SEED_NAME)
    page.locator("#file-input").set_input_files(
        {
            "name": "lighthouse.md",
            "mimeType": "text/markdown",
            "buffer": b"# Zephyrine lighthouse\n\nThe Zephyrine lighthouse keeper records tide heights "
            b"every morning at six o'clock and sends them to the harbour office by radio.\n",
        }
    )
    expect(page.locator(".result", has_text="lighthouse.md")).to_have_attribute("data-status", "added")
    expect(page.locator("#doc-list")).to_contain_text("lighthouse.md")

    # Drag and drop, as a person would from a file manager.
    page.evaluate(
        """() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['Nothing here but a binary blob'], 'blob.exe', {type: 'application/octet-stream'}));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    }"""
    )
    expect(page.locator(".result", has_text="blob.exe")).to_have_attribute("data-status", "skipped")
    expect(page.locator(".result", has_text="blob.exe")).not_to_have_text("blob.exe skipped")  # with a reason

    ask(page, "When does the Zephyrine lighthouse keeper record tide heights?")
    bot = last_answer(page)
    expect(bot.locator(".answer")).to_contain_text("six o'clock")
    expect(bot.locator("button.cite").first).to_have_attribute("aria-label", re.compile(r"^Source \d+: lighthouse\.md"))

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Remove lighthouse.md from the index").click()
    expect(page.locator("#upload-status")).to_contain_text("removed")
    expect(page.locator("#doc-list")).not_to_contain_text("lighthouse.md")
    expect(page.locator("#doc-list")).to_contain_text(SEED_NAME)


def test_the_citation_check_is_shown_not_hidden(
    live: LiveServer, fake_llm: FakeOpenAI, visit: Callable[..., Visit]
) -> None:
    page = visit(live.url).page
    fake_llm.reply = "Serbia would import gas from Azerbaijan and produce electricity [99]."
    ask(page, QUESTION)
    bot = last_answer(page)
    expect(bot.locator(".answer")).not_to_contain_text("[99]")
    expect(bot.locator(".checks")).to_contain_text("1 citation removed: no such passage.")
    expect(bot.locator(".checks")).to_contain_text("1 citation added where the model left a sentence uncited.")
    expect(bot.locator(".answer button.cite")).to_have_count(1)


GAS = "Serbia would import gas from Azerbaijan, then produce electricity using gas-fired power plants"


def scripted_claims(
    claims: Callable[[list[tuple[int, str]]], list[tuple[list[int], str]]], verdict: str
) -> Callable[[list[dict[str, str]]], str]:
    """A fake model that replies with the claims `claims(shown sentences)` and answers the support question with
    `verdict` ("yes", "no", "0.3", or a word that is neither: no verdict)."""

    def reply(messages: list[dict[str, str]]) -> str:
        prompt = messages[-1]["content"]
        if "Proposed answer:" in prompt:
            return verdict
        shown = sentences_in(prompt)
        return claims_reply(*claims(shown)) if shown else default_reply(messages)

    return reply


def sentence_with(shown: list[tuple[int, str]], words: str) -> int:
    return next(i for i, text in shown if words in text)


def open_why(bot: Any) -> Any:
    why = bot.locator("details.why")
    expect(why.locator(".why-body")).to_be_hidden()  # folded until asked for: the answer comes first
    why.get_by_text("Why this answer").click()
    expect(why.locator(".why-body")).to_be_visible()
    return why


@pytest.mark.parametrize(
    ("draft", "verdict", "reason", "failed"),
    [
        (
            "Serbia will import 7 million tonnes of bananas from Azerbaijan.",
            "no",
            "it gives a number the passages do not state",
            "Figures its evidence does not state: 7.",
        ),
        (
            "Serbia would import gas from Azerbaijan and produce electricity with it.",
            "perhaps",  # neither yes nor no: no verdict, and no verdict is not support
            "whether the passages support it could not be checked, so it is not given as fact",
            "Support: the model gave no verdict, so it counts as not supported.",
        ),
    ],
    ids=["number_not_in_evidence", "support_unknown"],
)
def test_the_why_view_shows_a_withheld_draft_and_its_reason(
    live: LiveServer,
    fake_llm: FakeOpenAI,
    visit: Callable[..., Visit],
    draft: str,
    verdict: str,
    reason: str,
    failed: str,
) -> None:
    page = visit(live.url).page
    fake_llm.reply = scripted_claims(lambda shown: [([sentence_with(shown, "import gas")], draft)], verdict)
    ask(page, QUESTION)
    bot = last_answer(page)
    expect(bot.locator(".answer")).to_contain_text("The documents do not answer this question.")
    expect(bot.locator(".answer")).not_to_contain_text(draft)
    why = open_why(bot)

    withheld = why.locator(".why-withheld")
    expect(withheld).to_contain_text("A drafted answer was withheld")
    expect(withheld.locator(".why-reason")).to_have_text(f"Reason: {reason}.")
    expect(withheld).to_contain_text("not shown as an answer")
    expect(withheld.locator(".why-draft")).to_have_text(draft)  # the model's words, marked as a draft
    claim = why.locator(".why-claim")
    expect(claim).to_have_count(1)
    expect(claim.locator(".why-status")).to_have_text(f"Withheld: {reason}.")
    expect(claim.locator(".why-check.bad").first).to_contain_text(failed)
    expect(claim.locator(".why-check.ok")).to_contain_text(["Evidence: the sentence the model named, in passage"])
    # The sentence the draft rested on is marked in its passage as evidence of a claim that was not shown.
    rejected = why.locator(".why-text mark.evidence.rejected")
    expect(rejected).to_have_count(1)
    assert GAS in rejected.inner_text()
    expect(why.locator(".why-text mark.evidence:not(.rejected)")).to_have_count(0)
    expect(why.locator(".why-passage.cited")).to_have_count(0)
    expect(bot.locator(".checks")).to_contain_text(f"A drafted answer was withheld: {reason}.")


def test_the_why_view_shows_passages_scores_marked_evidence_and_checks(
    live: LiveServer, fake_llm: FakeOpenAI, visit: Callable[..., Visit]
) -> None:
    page = visit(live.url).page
    named: dict[str, str] = {}

    def claims(shown: list[tuple[int, str]]) -> list[tuple[list[int], str]]:
        # The first claim names a sentence without its words (re-anchored by code to the one that has them);
        # the second makes up a figure (dropped: the answer keeps the first).
        other = next((i, t) for i, t in shown if "gas" not in t and "electricity" not in t)
        named["other"] = other[1]
        return [
            ([other[0]], "Serbia would import gas from Azerbaijan and produce electricity with it."),
            ([other[0]], "Serbia will also buy 7 million tonnes of bananas."),
        ]

    fake_llm.reply = scripted_claims(claims, "yes")
    ask(page, QUESTION)
    bot = last_answer(page)
    expect(bot.locator(".answer")).to_contain_text("produce electricity with it. [")
    expect(bot.locator(".answer")).not_to_contain_text("bananas")
    why = open_why(bot)
    expect(why.locator(".why-notes")).to_contain_text("1 of the model's 2 claims was dropped")

    # Every passage searched, with its score, in the order the server ranked them; the cited one marked.
    done = httpx.post(live.url + "/v1/ask", json={"question": QUESTION}, timeout=30).json()
    items = why.locator(".why-passage")
    expect(items).to_have_count(len(done["passages"]))
    expect(items.locator(".why-score")).to_have_text([f"similarity {p['score']:.3f}" for p in done["passages"]])
    expect(items.locator(".source-n")).to_have_text([f"[{p['id']}]" for p in done["passages"]])
    (cited,) = done["citations"]
    item = why.locator(f'.why-passage[data-passage="{cited["id"]}"]')
    expect(item).to_have_class(re.compile(r"\bcited\b"))
    expect(item.locator(".why-badge")).to_have_text("cited")
    expect(why.locator(".why-passage.cited")).to_have_count(1)

    # The evidence sentence is marked inside its passage's exact text.
    shown = item.locator(".why-text").evaluate(
        """b => { const c = b.cloneNode(true); c.querySelectorAll('.visually-hidden').forEach(e => e.remove());
                  return c.textContent; }"""
    )  # less the words said to screen readers only ("[evidence of shown claim 1]")
    assert shown == next(p["text"] for p in done["passages"] if p["id"] == cited["id"])
    kept = item.locator("mark.evidence:not(.rejected)")
    expect(kept).to_have_count(1)
    assert GAS in kept.inner_text() and kept.get_attribute("data-claim") == "1"
    assert cited["quote"]["text"] in kept.inner_text()
    # The dropped claim's sentence is marked too, as evidence of a claim not shown.
    rejected = why.locator(".why-text mark.evidence.rejected")
    expect(rejected).to_have_count(1)
    assert " ".join(named["other"].split()) in " ".join(rejected.inner_text().split())
    assert rejected.get_attribute("data-claim") == "2"

    # Each claim's checks, in words.
    first, second = why.locator(".why-claim").all()
    expect(first.locator(".why-status")).to_have_text("Shown.")
    expect(first.locator(".why-check")).to_contain_text(
        [
            f"Evidence: re-anchored to the sentence that holds its words, in passage [{cited['id']}]",
            "The names in the question are in its passage.",
            "Words of the claim found in its evidence: 100%",
            "Support: the model's confidence that its evidence states it: 0.90.",
        ]
    )
    expect(first.locator(".why-check.bad")).to_have_count(0)
    expect(second.locator(".why-status")).to_have_text("Dropped: it gives a number the passages do not state.")
    expect(second.locator(".why-draft")).to_have_text("Serbia will also buy 7 million tonnes of bananas.")
    expect(second.locator(".why-check.bad")).to_contain_text(
        ["Figures its evidence does not state: 7.", re.compile(r"Words of the claim found in its evidence: \d+%")]
    )

    # A passage in the view opens in the passage dialog, like a citation.
    item.get_by_role("button", name=re.compile(rf"^Open passage {cited['id']}:")).click()
    expect(page.locator("#passage-text mark.quote")).to_contain_text(GAS)
    page.keyboard.press("Escape")


def test_a_vote_and_comment_from_the_page_appear_in_rag_feedback(
    live: LiveServer, settings: Settings, visit: Callable[..., Visit], capsys: pytest.CaptureFixture[str]
) -> None:
    page = visit(live.url).page
    ask(page, QUESTION)
    bar = last_answer(page).get_by_role("group", name="Was this answer helpful?")
    helpful, not_helpful = (
        bar.get_by_role("button", name="Helpful", exact=True),
        bar.get_by_role("button", name="Not helpful"),
    )
    helpful.click()
    expect(bar.get_by_role("status")).to_have_text("Thanks: recorded.")
    expect(helpful).to_have_attribute("aria-pressed", "true")
    # Changing one's mind, with a comment: the vote is replaced, not added to.
    not_helpful.click()
    expect(not_helpful).to_have_attribute("aria-pressed", "true")
    expect(helpful).to_have_attribute("aria-pressed", "false")
    bar.get_by_label("Comment on this answer").fill("It does not say how much gas.")
    bar.get_by_role("button", name="Send comment").click()
    expect(bar.get_by_role("status")).to_have_text("Thanks: vote and comment recorded.")

    from rag.cli import main

    os.environ["RAG_DATA_DIR"] = str(settings.data_dir)
    try:
        with pytest.raises(SystemExit) as exited:
            main(["feedback"])
    finally:
        del os.environ["RAG_DATA_DIR"]
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "not_helpful" in out and " page " in out and f"Q: {QUESTION}" in out
    assert "Comment: It does not say how much gas." in out and "0 helpful, 1 not helpful" in out


def test_llm_down_is_said_plainly_with_the_passages(
    live: LiveServer, fake_llm: FakeOpenAI, visit: Callable[..., Visit]
) -> None:
    page = visit(live.url).page
    fake_llm.status = 503
    ask(page, QUESTION)
    bot = last_answer(page)
    error = bot.get_by_role("alert")
    expect(error).to_contain_text("language model")
    expect(error).to_contain_text("no answer")
    expect(bot.locator(".sources")).to_contain_text("Passages found")
    expect(bot.locator(".sources")).to_contain_text(SEED_NAME)
    bot.locator(".source-open").first.click()
    assert page.locator("#passage-text").inner_text().strip() in SEED_TEXT
    page.keyboard.press("Escape")

    fake_llm.status = None  # the model is back: "Ask again" answers
    bot.get_by_role("button", name="Ask again").click()
    expect(page.locator(".turn")).to_have_count(2)
    expect(last_answer(page).locator("button.cite").first).to_be_visible()


def test_stop_ends_a_slow_answer(live: LiveServer, fake_llm: FakeOpenAI, visit: Callable[..., Visit]) -> None:
    page = visit(live.url).page
    fake_llm.hold = threading.Event()  # the model "thinks" until released: only Stop can end this answer
    ask(page, QUESTION)
    stop = page.get_by_role("button", name="Stop the answer")
    expect(stop).to_be_visible()
    expect(page.locator(".turn .status")).to_contain_text("writing the answer")
    stop.click()
    bot = last_answer(page)
    expect(bot.locator(".status")).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    fake_llm.hold.set()


@pytest.fixture
def keyed(tmp_path: Path, fake_llm: FakeOpenAI, embedder: MiniLMEmbedder) -> Iterator[LiveServer]:
    """A server with RAG_API_KEYS set and nothing indexed."""
    settings = make_settings(tmp_path / "keyed", fake_llm.base_url, api_keys="letmein")
    pipe = build(settings, embedder=embedder)
    with LiveServer(create_app(settings, pipe)) as server:
        yield server
    pipe.close()


def test_the_page_asks_for_a_key_and_keeps_it(keyed: LiveServer, visit: Callable[..., Visit]) -> None:
    page = visit(keyed.url).page
    dialog = page.get_by_role("dialog", name="API key needed")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("needs an API key")

    page.get_by_label("API key", exact=True).fill("wrong")
    page.get_by_role("button", name="Save key").click()
    expect(dialog).to_contain_text("not valid")

    page.get_by_label("API key", exact=True).fill("letmein")
    page.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#docs-message")).to_contain_text("Nothing is indexed yet")

    page.reload()  # kept in this browser: no question asked again
    expect(page.locator("#docs-message")).to_contain_text("Nothing is indexed yet")
    expect(dialog).to_be_hidden()
    assert page.evaluate("localStorage.getItem('seedrag.apiKey')") == "letmein"
    ask(page, QUESTION)
    expect(last_answer(page).locator(".answer")).to_contain_text("could not find anything")


def test_a_server_that_went_away_is_said_plainly(pipeline: Pipeline, visit: Callable[..., Visit]) -> None:
    with LiveServer(create_app(pipeline.settings, pipeline)) as server:
        v = visit(server.url)
        expect(v.page.locator("#docs-message")).to_contain_text("Nothing is indexed yet")
    ask(v.page, QUESTION)
    expect(last_answer(v.page).get_by_role("alert")).to_contain_text("Could not reach the seedrag server")


def test_phone_width_is_readable_and_labelled(live: LiveServer, visit: Callable[..., Visit]) -> None:
    page = visit(live.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).page
    docs = page.get_by_role("complementary", name="Documents")
    expect(docs).to_be_hidden()  # no room beside the chat: closed until asked for
    ask(page, QUESTION)
    last_answer(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    toggle = page.get_by_role("button", name="Documents")
    toggle.click()
    expect(docs).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(docs).to_contain_text(SEED_NAME)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, textarea')]
             .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() || e.labels?.length))
             .map(e => e.outerHTML)"""
    )
    assert unnamed == []


def test_page_and_static_files_over_http(live: LiveServer) -> None:
    page = httpx.get(live.url + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/main.js">' in page.text
    for name in ["", *(f"static/{f.name}" for f in STATIC.iterdir())]:
        r = httpx.get(f"{live.url}/{name}", timeout=10)
        assert r.status_code == 200, name
        # No address of another host anywhere in what the page is made of (the SVG namespace is a name).
        assert set(re.findall(r"https?://[^\s\"')]+", r.text)) <= {"http://www.w3.org/2000/svg"}, name
    missing = httpx.get(live.url + "/static/..%2Fapp.py", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert httpx.get(live.url + "/static/nope.js", timeout=10).status_code == 404


# The screenshot in docs/: a real question answered by the real local model. Opt-in (it takes ~30 s).
@pytest.mark.skipif(not os.environ.get("RAG_SCREENSHOT"), reason="set RAG_SCREENSHOT=1 to refresh docs/screenshot.png")
def test_screenshot_of_a_real_answer(tmp_path: Path, embedder: MiniLMEmbedder, browser: Browser) -> None:
    from rag.llm.local import LocalServer

    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    local = LocalServer(settings)
    if not local.healthy():  # reuse a model already serving on the default port; else start our own
        settings = Settings(_env_file=None, data_dir=tmp_path / "data", local_llm_port=free_port())  # type: ignore[call-arg]
        local = LocalServer(settings)
        local.start()
    pipe = build(settings, embedder=embedder)
    pipe.ingestor.ingest([SEEDS])
    try:
        with LiveServer(create_app(settings, pipe)) as server:
            ctx = browser.new_context(viewport={"width": 1100, "height": 560}, device_scale_factor=1)
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            page.goto(server.url + "/")
            expect(page.locator("#doc-list")).to_contain_text(SEED_NAME)
            ask(page, QUESTION)
            bot = last_answer(page, timeout=180_000)
            expect(bot.locator("button.cite").first).to_be_visible()
            bot.locator("button.cite").first.click()
            expect(page.get_by_role("dialog")).to_be_visible()
            page.keyboard.press("Escape")
            page.evaluate("document.activeElement.blur()")  # no focus ring left on the citation
            out = ROOT / "docs" / "screenshot.png"
            page.screenshot(path=str(out))
            ctx.close()
            assert out.stat().st_size > 10_000
    finally:
        local.stop()
        pipe.close()


HOSTILE_DOC = (
    '# Gas policy\n\nSerbia would import gas from Azerbaijan, says <img src=x onerror="window.pwned=1"> the '
    "[official portal](https://evil.example/login) and <a href='https://evil.example'>this link</a> **now**.\n"
)


def test_passage_text_from_a_document_stays_inert_on_the_page(
    pipeline: Pipeline, visit: Callable[..., Visit], tmp_path: Path
) -> None:
    doc = tmp_path / "hostile.md"
    doc.write_text(HOSTILE_DOC, encoding="utf-8")
    pipeline.ingestor.ingest([doc])
    with LiveServer(create_app(pipeline.settings, pipeline)) as server:
        v = visit(server.url)
        page = v.page
        ask(page, QUESTION)
        bot = last_answer(page)
        why = open_why(bot)  # the why view shows each passage's whole text, and the draft when withheld
        expect(why.locator(".why-text").first).to_contain_text('<img src=x onerror="window.pwned=1">')
        assert why.locator("img, a, script, iframe").count() == 0
        # The answer is the page's sentence up to "window." (the sentence splitter's cut): its markup is text.
        expect(bot.locator(".answer")).to_contain_text('<img src=x onerror="window.')
        bot.locator(".answer button.cite").first.click()
        expect(page.locator("#passage-text")).to_contain_text("onerror=")
        # The document's markup is shown as its characters: no element, link or script came from it.
        for scope in (bot, page.locator("#passage-dialog")):
            assert scope.locator("img, a, script, iframe").count() == 0
        assert "<img" in page.locator("#passage-text").inner_text()
        assert page.evaluate("window.pwned") is None
