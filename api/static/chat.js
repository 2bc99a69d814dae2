// The conversation: each question becomes a turn whose answer streams in from /v1/ask/stream; finished
// turns are the history sent with the next question, so follow-ups ("and oil?") make sense.

import { ApiError, explain, request, sseEvents } from "./api.js";
import { feedbackBar } from "./feedback.js";
import { el, position, quoteParts, renderAnswer, showPassage } from "./render.js";
import { reason, whyView } from "./why.js";

// The server keeps at most its own RAG_MAX_HISTORY_MESSAGES; this only keeps the request small.
const HISTORY_SENT = 20;

const state = { history: [], controller: null };

const log = () => document.getElementById("log");

function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function keepScrolled(fn) {
  const box = log();
  const stick = nearBottom(box);
  fn();
  if (stick) box.scrollTop = box.scrollHeight;
}

function sourceItem(n, p) {
  // A cited passage shows the sentence the answer rests on; others show their opening.
  const parts = quoteParts(p);
  const shown = parts ? parts[1] : p.text;
  const excerpt = shown.length > 160 ? `${shown.slice(0, 160).trimEnd()}…` : shown;
  const where = position(p);
  return el(
    "li",
    { className: "source", "data-source": n },
    el(
      "button",
      {
        type: "button",
        className: "source-open",
        "aria-label": `Read source ${n}: ${p.name}${where ? `, ${where}` : ""}`,
        onclick: () => showPassage(n, p),
      },
      el("span", { className: "source-n", text: `[${n}]` }),
      el("span", { className: "source-name", text: p.name }),
      where ? el("span", { className: "source-where", text: where }) : null,
    ),
    el(parts ? "mark" : "span", { className: parts ? "source-excerpt quote" : "source-excerpt", text: excerpt }),
  );
}

function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Why a drafted answer was not shown, when the checks withheld it. */
function withheldNote(checks) {
  return checks.withheld ? `A drafted answer was withheld: ${reason(checks.withheld)}.` : "";
}

function checkNotes(changes) {
  const notes = [];
  const { invented = [], unsupported = [], added = [] } = changes;
  if (invented.length) notes.push(`${plural(invented.length, "citation")} removed: no such passage.`);
  if (unsupported.length) notes.push(`${plural(unsupported.length, "citation")} removed: the passage did not support the sentence.`);
  if (added.length) notes.push(`${plural(added.length, "citation")} added where the model left a sentence uncited.`);
  return notes.join(" ");
}

/** One question and its answer on the page. */
class Turn {
  constructor(question) {
    this.answer = el("div", { className: "answer" });
    this.status = el("p", { className: "status", text: "Searching the documents…" });
    this.error = el("div", { className: "error", role: "alert", hidden: true });
    this.sources = el("section", { className: "sources", hidden: true });
    this.bot = el(
      "div",
      { className: "msg bot", "aria-busy": "true" },
      el("span", { className: "visually-hidden", text: "Answer: " }),
      this.answer,
      this.status,
      this.error,
      this.sources,
    );
    this.node = el(
      "article",
      { className: "turn" },
      el(
        "div",
        { className: "msg user" },
        el("span", { className: "visually-hidden", text: "You asked: " }),
        el("p", { text: question }),
      ),
      this.bot,
    );
    this.passages = [];
  }

  lookup(list) {
    const byId = new Map(list.map((p) => [p.id, p]));
    return (n) => byId.get(n);
  }

  setPassages(passages) {
    this.passages = passages;
    this.status.textContent = passages.length
      ? `Found ${passages.length} passage${passages.length === 1 ? "" : "s"}; writing the answer…`
      : "No passage matched; writing the answer…";
  }

  stream(raw) {
    // Shown as it is written, but marked unchecked until the server has located and checked its evidence.
    this.answer.classList.add("unchecked");
    this.status.textContent = "Writing the answer; checking it against the passages when done…";
    keepScrolled(() => renderAnswer(this.answer, raw, this.lookup(this.passages), showPassage));
  }

  listSources(heading, list) {
    if (!list.length) return;
    this.sources.replaceChildren(
      el("h3", { text: heading }),
      el("ol", { className: "source-list" }, list.map((p) => sourceItem(p.id, p))),
    );
    this.sources.hidden = false;
  }

  finish(done) {
    keepScrolled(() => {
      // The final text is the checked one: markers the server removed disappear from what was streamed.
      renderAnswer(this.answer, done.answer, this.lookup(done.citations), showPassage);
      this.answer.classList.remove("unchecked");
      this.bot.classList.toggle("refused", done.refused);
      this.status.textContent = `${done.model} · search ${duration(done.retrieval_ms)} · writing ${duration(done.generation_ms)}`;
      const checks = [checkNotes(done.removed_citations || {}), withheldNote(done.checks || {})].filter(Boolean).join(" ");
      if (checks) this.status.before(el("p", { className: "checks", text: checks }));
      if (done.refused) this.listSources("Passages searched", done.passages || []);
      else this.listSources("Sources", done.citations);
      const why = whyView(done);
      if (why) this.bot.append(why);
      if (done.answer_id) this.bot.append(feedbackBar(done.answer_id));
      this.bot.setAttribute("aria-busy", "false");
    });
  }

  stopped() {
    this.status.textContent = "Stopped. This partial answer is not used for follow-up questions.";
    this.bot.classList.add("stopped");
    this.bot.setAttribute("aria-busy", "false");
  }

  fail(err, passages, retry) {
    const { title, detail } = explain(err);
    const shown = err.passages && err.passages.length ? err.passages : passages;
    keepScrolled(() => {
      this.error.replaceChildren(
        el("p", { className: "error-title", text: title }),
        detail ? el("p", { className: "error-detail", text: detail }) : null,
        shown.length ? el("p", { text: "These are the passages that were found; you can read them yourself." }) : null,
        el("button", { type: "button", className: "retry", onclick: retry }, "Ask again"),
      );
      this.error.hidden = false;
      this.status.textContent = "";
      this.bot.classList.add("failed");
      this.listSources("Passages found", shown);
      this.bot.setAttribute("aria-busy", "false");
    });
  }
}

function setBusy(busy) {
  document.getElementById("send").hidden = busy;
  document.getElementById("stop").hidden = !busy;
  document.getElementById("ask-form").setAttribute("aria-busy", String(busy));
}

export async function ask(question) {
  if (state.controller || !question.trim()) return;
  document.getElementById("empty").hidden = true;
  const turn = new Turn(question);
  keepScrolled(() => log().append(turn.node));
  const history = state.history.slice(-HISTORY_SENT);
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  let raw = "";
  let passages = [];
  try {
    const response = await request("/v1/ask/stream", {
      method: "POST",
      // X-Seedrag-Client: the votes given here are listed as the chat page's in `rag feedback`.
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-Seedrag-Client": "page" },
      body: JSON.stringify({ question, history }),
      signal: controller.signal,
    });
    let done = null;
    for await (const { event, data } of sseEvents(response)) {
      if (event === "sources") {
        passages = data.passages;
        turn.setPassages(passages);
      } else if (event === "token") {
        raw += data.text;
        turn.stream(raw);
      } else if (event === "done") {
        done = data;
      } else if (event === "error") {
        const e = data.error || {};
        throw new ApiError(e.status || 502, e.type || "llm_unavailable", e.message || "", data.passages || passages);
      }
    }
    if (!done) throw new ApiError(0, "network", "the connection closed before the answer was finished");
    turn.finish(done);
    if (state.controller === controller) {
      state.history.push({ role: "user", content: question }, { role: "assistant", content: done.answer });
    }
  } catch (err) {
    if (err.name === "AbortError") turn.stopped();
    else turn.fail(err, passages, () => ask(question));
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      setBusy(false);
    }
  }
}

export function stop() {
  if (state.controller) state.controller.abort();
}

export function newChat() {
  // Let go of a running answer at once, so a question asked right away is not refused as "busy".
  stop();
  state.controller = null;
  setBusy(false);
  state.history = [];
  log().replaceChildren(document.getElementById("empty"));
  document.getElementById("empty").hidden = false;
  const box = document.getElementById("question");
  box.value = "";
  box.focus();
}
