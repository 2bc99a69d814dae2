// Wiring: the question box and its keys, the header buttons, the documents panel and the API-key dialog.

import { storeKey, storedKey } from "./api.js";
import { ask, newChat, stop } from "./chat.js";
import { loadDocuments, wireUploads } from "./docs.js";

const $ = (id) => document.getElementById(id);
const NARROW = window.matchMedia("(max-width: 800px)");

function wireQuestion() {
  const box = $("question");
  const send = () => {
    const question = box.value.trim();
    if (!question || !$("stop").hidden) return;
    box.value = "";
    ask(question);
  };
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  box.addEventListener("keydown", (e) => {
    // Enter sends; Shift+Enter keeps the browser's newline. Not while an IME is composing a character.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  $("stop").addEventListener("click", () => {
    stop();
    box.focus();
  });
  $("new-chat").addEventListener("click", newChat);
}

function setDocsOpen(open) {
  $("docs").hidden = !open;
  $("docs-toggle").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("docs-open", open);
}

function wirePanel() {
  // A phone has no room beside the chat: the panel starts closed there and opens over it.
  setDocsOpen(!NARROW.matches);
  $("docs-toggle").addEventListener("click", () => setDocsOpen($("docs").hidden));
  $("docs-close").addEventListener("click", () => {
    setDocsOpen(false);
    $("docs-toggle").focus();
  });
  $("docs-refresh").addEventListener("click", loadDocuments);
  wireUploads();
}

function wireKey() {
  const dialog = $("key-dialog");
  const input = $("key-input");
  const open = (message) => {
    $("key-message").textContent = message || "This server needs an API key.";
    $("key-button").hidden = false;
    input.value = "";
    if (!dialog.open) dialog.showModal();
    input.focus();
  };
  window.addEventListener("seedrag:need-key", (e) => open(e.detail));
  $("key-button").hidden = !storedKey();
  $("key-button").addEventListener("click", () => open("Enter the API key for this server."));
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    storeKey(input.value.trim());
    dialog.close();
    loadDocuments();
    $("question").focus();
  });
  $("key-forget").addEventListener("click", () => {
    storeKey("");
    dialog.close();
    loadDocuments();
  });
  $("key-cancel").addEventListener("click", () => dialog.close());
}

function wirePassage() {
  const dialog = $("passage-dialog");
  $("passage-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop (outside the dialog's box) closes it too, as people expect of a pop-up.
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog) dialog.close();
  });
}

wireQuestion();
wirePanel();
wireKey();
wirePassage();
loadDocuments();
$("question").focus();
