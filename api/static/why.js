// "Why this answer": the server's `checks` record under an answer, made readable. The passages searched, with
// their scores and the evidence sentences marked inside them; each claim of the model's reply with what every
// check found; and for a withheld answer the draft (marked as not shown as fact) and the reason in plain words.
// Passage and draft text only ever become text nodes, like everything else on the page.

import { el, position, showPassage } from "./render.js";

/** Why a drafted answer, or one claim of it, was not shown: rag/answering/verdict.py `Withheld`, in plain words. */
export const WITHHELD = {
  quote_not_found: "the sentence it quoted is in none of the passages",
  no_evidence: "it pointed to no sentence of the passages as its evidence",
  restates_question: "it only repeats the question and adds no answer to it",
  question_names_not_in_passage: "its passage does not mention what the question names",
  answer_not_in_passage: "its passage does not hold the answer's words",
  number_not_in_evidence: "it gives a number the passages do not state",
  quote_does_not_state_answer: "the sentence it rests on does not state it",
  support_unknown: "whether the passages support it could not be checked, so it is not given as fact",
  quote_does_not_settle_yes_no: "the sentence it rests on, read alone, gives the other answer",
  no_supported_sentence: "no passage supports any of its sentences",
};

export function reason(code) {
  return WITHHELD[code] || `it failed a check (${code})`;
}

function percent(x) {
  return `${Math.round(x * 100)}%`;
}

function passageRef(n) {
  return Number.isInteger(n) ? `, in passage [${n}]` : "";
}

/** One check's result: a mark (✓, ✗ or ·) and its words; the result is also said in words for screen readers. */
function line(result, text) {
  const mark = { ok: "✓", bad: "✗", info: "·" }[result];
  const said = { ok: "passed: ", bad: "failed: ", info: "" }[result];
  return el(
    "li",
    { className: `why-check ${result}`, "data-check": result },
    el("span", { className: "why-mark", "aria-hidden": "true", text: mark }),
    el("span", { className: "visually-hidden", text: said }),
    text,
  );
}

/** The record of the earlier quote step (RAG_ANSWER_EVIDENCE=quote), in the shape of an evidence-ids claim. */
function quoteStepClaim(checks, done) {
  const cited = (done.citations || [])[0];
  return {
    draft: checks.draft,
    anchor: checks.withheld === "quote_not_found" ? "none" : "quote",
    quote_match: checks.quote_match,
    passage: checks.passage,
    spans: cited && cited.quote ? [[cited.quote.start, cited.quote.end]] : [],
    lexical: checks.lexical ?? null,
    missing: checks.missing || [],
    numbers: null, // the quote step does not check figures
    entailment: checks.entailed === undefined ? "not_asked" : "judged",
    entailed: checks.entailed,
    support: null,
    text: done.refused ? null : done.answer.replace(/\s*\[\d+(?:\s*,\s*\d+)*\]/g, ""),
    made: checks.answer || "model",
    withheld: checks.withheld || null,
    failed: [
      checks.withheld,
      (checks.missing || []).length ? "question_names_not_in_passage" : null,
      checks.entailed === false ? "quote_does_not_state_answer" : null,
    ].filter(Boolean),
  };
}

/** Whether a check failed: `failed` lists every failed check (`withheld` is only the first). */
function failedOn(c, code) {
  return (c.failed || [c.withheld]).includes(code);
}

function evidenceLine(c) {
  const count = (c.evidence || []).length;
  const sentences = count > 1 ? `the ${count} sentences` : "the sentence";
  if (c.anchor === "named") return line("ok", `Evidence: ${sentences} the model named${passageRef(c.passage)}.`);
  if (c.anchor === "realigned") {
    return line(
      "ok",
      `Evidence: re-anchored to the sentence that holds its words${passageRef(c.passage)} (the model had named another).`,
    );
  }
  if (c.anchor === "quote") {
    const how = c.quote_match && c.quote_match !== "exact" ? ` (found ${c.quote_match.replace(/_/g, " ")})` : "";
    return line("ok", `Evidence: the sentence the model quoted${passageRef(c.passage)}${how}.`);
  }
  if (c.withheld === "quote_not_found") return line("bad", "Evidence: the sentence it quoted is in none of the passages.");
  return line("bad", "Evidence: none; it named no sentence of the passages.");
}

function supportLine(c) {
  const failed = failedOn(c, "quote_does_not_state_answer") || failedOn(c, "support_unknown");
  if (c.entailment === "span") {
    const how = c.made === "quote" ? "it is its evidence sentence itself" : "stated word for word in its evidence";
    return line("ok", `Support: ${how}.`);
  }
  if (c.entailment === "asked") {
    if (c.support === null || c.support === undefined) {
      return line("bad", "Support: the model gave no verdict, so it counts as not supported.");
    }
    return line(failed ? "bad" : "ok", `Support: the model's confidence that its evidence states it: ${c.support.toFixed(2)}.`);
  }
  if (c.entailment === "judged") {
    if (c.entailed === true) return line("ok", "Support: the model judged that the quoted sentence states it.");
    if (c.entailed === false) return line("bad", "Support: the model judged that the quoted sentence does not state it.");
    return line("info", "Support: the model gave no verdict.");
  }
  return null;
}

/** Each check the server ran on one claim, in the order it runs them; checks that did not run are not listed. */
function claimChecks(c) {
  const items = [evidenceLine(c)];
  if (c.made === "quote") {
    items.push(line("info", "The model's words only restated the question: its evidence sentence is shown instead."));
  } else if (c.made === "polarity+quote") {
    items.push(line("info", "Its yes or no is the one its evidence sentence gives when read alone."));
  }
  if (failedOn(c, "restates_question")) items.push(line("bad", "It only restates the question, and no sentence could stand in."));
  if (Number.isInteger(c.passage)) {
    const missing = c.missing || [];
    items.push(
      missing.length
        ? line("bad", `Names in the question its passage does not mention: ${missing.join(", ")}.`)
        : line("ok", "The names in the question are in its passage."),
    );
  }
  const numbers = c.numbers || [];
  if (numbers.length) items.push(line("bad", `Figures its evidence does not state: ${numbers.join(", ")}.`));
  else if (Array.isArray(c.numbers) && c.lexical !== null && c.lexical !== undefined && /\d/.test(c.draft || "")) {
    items.push(line("ok", "Every figure is in its evidence or the question."));
  }
  if (c.lexical !== null && c.lexical !== undefined) {
    const failed = failedOn(c, "answer_not_in_passage");
    const found = `Words of the claim found in its evidence: ${percent(c.lexical)} (not counting the question's own words).`;
    items.push(line(failed ? "bad" : "ok", found));
  }
  items.push(supportLine(c));
  if (failedOn(c, "quote_does_not_settle_yes_no")) {
    items.push(line("bad", "Its evidence sentence, read alone, gives the other yes or no."));
  }
  return el("ul", { className: "why-checks" }, items.filter(Boolean));
}

function claimItem(c, i, allWithheld, draftAbove) {
  const shown = c.text !== null && c.text !== undefined;
  const status = shown ? "Shown" : allWithheld ? "Withheld" : "Dropped";
  const verdict = shown ? "" : `: ${reason(c.withheld)}`;
  return el(
    "li",
    { className: `why-claim ${shown ? "kept" : "not-kept"}`, "data-claim": i + 1 },
    el(
      "p",
      { className: "why-claim-head" },
      el("span", { className: `why-status ${shown ? "ok" : "bad"}`, text: `${status}${verdict}.` }),
    ),
    // The one claim of a withheld answer is its draft, already quoted above.
    draftAbove
      ? null
      : [
          el("p", { className: "why-claim-label", text: shown ? "As shown:" : "As the model drafted it (not shown as fact):" }),
          el("blockquote", { className: `why-claim-text${shown ? "" : " why-draft"}`, text: shown ? c.text : c.draft }),
        ],
    shown && c.text !== c.draft ? el("p", { className: "why-aside", text: `The model wrote: “${c.draft}”` }) : null,
    claimChecks(c),
  );
}

/**
 * Which passage each evidence span is in, and whether its claim was shown: passage number -> [{start, end,
 * kept, claim}] in document offsets. A shown claim's quotes name their passage; a claim that was not shown
 * names the passage of its first span, and any other span is placed in a passage of the same document that holds it.
 */
function evidenceSpans(done, claims) {
  const passages = done.passages || [];
  const byN = new Map(passages.map((p) => [p.id, p]));
  const out = new Map();
  const add = (n, start, end, kept, claim) => {
    if (!byN.has(n)) return;
    if (!out.has(n)) out.set(n, []);
    out.get(n).push({ start, end, kept, claim });
  };
  const holds = (p, s, e) => p && s >= p.start && e <= p.end;
  const shownQuotes = (done.claims || []).map((c) => c.quotes || []);
  let k = 0;
  claims.forEach((c, i) => {
    if (c.text !== null && c.text !== undefined && shownQuotes[k]) {
      for (const q of shownQuotes[k]) add(q.passage, q.start, q.end, true, i + 1);
      k += 1;
      return;
    }
    const first = byN.get(c.passage);
    for (const [s, e] of c.spans || []) {
      const home = holds(first, s, e)
        ? first
        : passages.find((p) => holds(p, s, e) && (!first || p.source === first.source));
      if (home) add(home.id, s, e, c.text !== null && c.text !== undefined, i + 1);
    }
  });
  return out;
}

/** A passage's text with its evidence spans marked; offsets count code points (Python), so slice code points. */
function markedText(p, spans) {
  const chars = Array.from(p.text);
  const chosen = [];
  // A sentence that is evidence of a shown claim and of one not shown is marked as the shown one's.
  for (const s of [...spans].sort((a, b) => Number(b.kept) - Number(a.kept))) {
    const a = Math.max(0, s.start - p.start);
    const b = Math.min(chars.length, s.end - p.start);
    if (b > a && !chosen.some((c) => a < c.b && c.a < b)) chosen.push({ ...s, a, b });
  }
  chosen.sort((x, y) => x.a - y.a);
  const nodes = [];
  let at = 0;
  for (const c of chosen) {
    if (c.a > at) nodes.push(chars.slice(at, c.a).join(""));
    const what = c.kept ? `evidence of shown claim ${c.claim}` : `evidence of claim ${c.claim}, not shown`;
    nodes.push(
      el("mark", { className: c.kept ? "evidence" : "evidence rejected", "data-claim": c.claim, title: what },
        el("span", { className: "visually-hidden", text: `[${what}] ` }),
        chars.slice(c.a, c.b).join("")),
    );
    at = c.b;
  }
  if (at < chars.length) nodes.push(chars.slice(at).join(""));
  return nodes;
}

/** One passage searched: its number (opens it in the passage dialog, its quote marked when cited), score and text. */
function passageItem(p, cited, spans) {
  const where = position(p);
  const hasKept = spans.some((s) => s.kept);
  const badge = cited ? "cited" : spans.length && !hasKept ? "evidence of a claim not shown" : "";
  return el(
    "li",
    { className: `why-passage${cited ? " cited" : ""}`, "data-passage": p.id },
    el(
      "p",
      { className: "why-passage-head" },
      el(
        "button",
        {
          type: "button",
          className: "source-open",
          "aria-label": `Open passage ${p.id}: ${p.name}${where ? `, ${where}` : ""}`,
          onclick: () => showPassage(p.id, cited || p),
        },
        el("span", { className: "source-n", text: `[${p.id}]` }),
        el("span", { className: "source-name", text: p.name }),
      ),
      el("span", {
        className: "why-score",
        title: "cosine similarity of the passage and the question, −1 to 1",
        text: `similarity ${Number(p.score).toFixed(3)}`,
      }),
      badge ? el("span", { className: `why-badge${cited ? " cited" : " rejected"}`, text: badge }) : null,
      where ? el("span", { className: "source-where", text: where }) : null,
    ),
    el("blockquote", { className: "why-text" }, markedText(p, spans)),
  );
}

/** How the reply came back, before any claim was checked. */
function replyNotes(checks) {
  const notes = [];
  if (checks.reply === "refused") {
    notes.push(
      checks.first_reply === "refused"
        ? "The model found no answer in the passages, also when asked a second time without the option to decline."
        : "The model found no answer in the passages.",
    );
  } else if (checks.first_reply === "refused") {
    notes.push("The model first declined; this is its second reply, asked without the option to decline.");
  }
  if (checks.reply === "plain") {
    notes.push("The model did not reply in the expected form: its answer was checked sentence by sentence instead.");
  }
  if (checks.polarity) notes.push(`Read alone, its evidence sentence answers ${checks.polarity}.`);
  if (checks.dropped_claims) {
    const were = checks.dropped_claims === 1 ? "was" : "were";
    notes.push(`${checks.dropped_claims} of the model's ${checks.claims.length} claims ${were} dropped; the rest are shown.`);
  }
  if (Number.isInteger(checks.sentences_shown) && Number.isInteger(checks.sentences)) {
    notes.push(`The model read ${checks.sentences_shown} of the passages' ${checks.sentences} sentences, those nearest the question.`);
  }
  return notes;
}

/** The "Why this answer" view under a finished answer; null when there is nothing to explain (no passage found). */
export function whyView(done) {
  const checks = done.checks || {};
  const passages = done.passages || [];
  if (!passages.length && !checks.draft) return null;
  let claims = checks.claims || [];
  if (!claims.length && checks.draft && checks.reply !== "plain" && checks.reply !== "claims") {
    claims = [quoteStepClaim(checks, done)]; // the quote step (RAG_ANSWER_EVIDENCE=quote) keeps one flat record
  }
  const withheld = done.refused && checks.withheld;
  const parts = [];

  if (withheld) {
    parts.push(
      el(
        "section",
        { className: "why-withheld", "aria-label": "Withheld draft" },
        el("h4", { text: "A drafted answer was withheld" }),
        el("p", { className: "why-reason", text: `Reason: ${reason(checks.withheld)}.` }),
        checks.draft
          ? [
              el("p", {
                className: "why-claim-label",
                text: "The model's draft, not shown as an answer because it did not pass the checks:",
              }),
              el("blockquote", { className: "why-draft", text: checks.draft }),
            ]
          : null,
      ),
    );
  }
  const notes = replyNotes(checks);
  if (notes.length) parts.push(el("ul", { className: "why-notes" }, notes.map((n) => el("li", { text: n }))));
  if (claims.length) {
    parts.push(
      el(
        "section",
        { className: "why-claims", "aria-label": "Checks of each claim" },
        el("h4", { text: claims.length === 1 ? "Checks of the answer" : `Checks of each of ${claims.length} claims` }),
        el(
          "ol",
          { className: "why-claim-list" },
          claims.map((c, i) => claimItem(c, i, Boolean(withheld), Boolean(withheld && checks.draft) && claims.length === 1)),
        ),
      ),
    );
  }
  const dropped = checks.dropped_sentences || [];
  if (dropped.length) {
    parts.push(
      el(
        "section",
        { className: "why-claims", "aria-label": "Sentences removed" },
        el("h4", { text: "Sentences removed: no passage supports them" }),
        el("ul", { className: "why-claim-list" }, dropped.map((s) => el("li", { className: "why-draft", text: s }))),
      ),
    );
  }
  if (passages.length) {
    const spans = evidenceSpans(done, claims);
    const cited = new Map((done.citations || []).map((c) => [c.id, c]));
    parts.push(
      el(
        "section",
        { className: "why-passages", "aria-label": "Passages searched" },
        el("h4", { text: `Passages searched (${passages.length}), in retrieval order` }),
        el(
          "p",
          { className: "why-legend" },
          "Marked: ",
          el("mark", { className: "evidence", text: "evidence of a shown claim" }),
          " ",
          el("mark", { className: "evidence rejected", text: "evidence of a claim not shown" }),
        ),
        el(
          "ol",
          { className: "why-passage-list" },
          passages.map((p) => passageItem(p, cited.get(p.id), spans.get(p.id) || [])),
        ),
      ),
    );
  }
  return el(
    "details",
    { className: "why" },
    el("summary", { text: "Why this answer" }),
    el("div", { className: "why-body" }, parts),
  );
}
