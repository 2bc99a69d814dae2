// Helpful / Not helpful under each finished answer, with an optional comment: POST /v1/feedback.
// Self-contained: chat.js only appends feedbackBar(answerId) to an answer it has finished.

import { explain, request } from "./api.js";
import { el } from "./render.js";

const VOTER_STORAGE = "seedrag.voter";

/** A random id kept in this browser, so that a second click changes this person's vote instead of adding one. */
function voter() {
  try {
    let id = localStorage.getItem(VOTER_STORAGE);
    if (!id) {
      id = `page:${Math.random().toString(36).slice(2, 10)}`; // an id, not a secret
      localStorage.setItem(VOTER_STORAGE, id);
    }
    return id;
  } catch {
    return "page:anonymous"; // storage disabled: votes still count, as one anonymous person's
  }
}

async function send(answerId, rating, comment) {
  await request("/v1/feedback", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ answer_id: answerId, rating, comment, user: voter() }),
  });
}

export function feedbackBar(answerId) {
  const note = el("span", { className: "feedback-note", role: "status" });
  const comment = el("textarea", {
    className: "feedback-comment",
    rows: 2,
    maxLength: 2000,
    placeholder: "What was wrong, or right? (optional)",
    "aria-label": "Comment on this answer",
  });
  const sendComment = el("button", { type: "button", className: "feedback-send" }, "Send comment");
  const more = el("div", { className: "feedback-more", hidden: true }, comment, sendComment);
  let rating = null;

  const buttons = [
    ["helpful", "Helpful", "👍"],
    ["not_helpful", "Not helpful", "👎"],
  ].map(([value, label, icon]) =>
    el(
      "button",
      {
        type: "button",
        className: "feedback-vote",
        "aria-pressed": "false",
        "data-rating": value,
        onclick: () => vote(value),
      },
      el("span", { "aria-hidden": "true", text: `${icon} ` }),
      label,
    ),
  );

  async function vote(value, text = "") {
    try {
      await send(answerId, value, text);
    } catch (err) {
      note.textContent = `Not recorded: ${explain(err).title}`;
      return;
    }
    rating = value;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.rating === value));
    note.textContent = text ? "Thanks: vote and comment recorded." : "Thanks: recorded.";
    more.hidden = false;
  }

  sendComment.onclick = () => {
    if (rating && comment.value.trim()) vote(rating, comment.value.trim());
  };

  return el(
    "div",
    { className: "feedback", role: "group", "aria-label": "Was this answer helpful?" },
    el("span", { className: "feedback-ask", text: "Was this helpful?" }),
    ...buttons,
    note,
    more,
  );
}
