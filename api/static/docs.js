// The documents panel: what is indexed (GET /v1/documents), adding files by drop or picker
// (POST /v1/documents) with each file's result, and removing one (DELETE /v1/documents/{id}).

import { explain, request } from "./api.js";
import { distinctTitle, el } from "./render.js";

const $ = (id) => document.getElementById(id);

function say(id, text, kind = "") {
  const node = $(id);
  node.textContent = text;
  node.className = `${node.className.split(" ")[0]} ${kind}`.trim();
}

function describe(doc) {
  const parts = [];
  if (distinctTitle(doc)) parts.push(doc.title);
  if (doc.date) parts.push(doc.date);
  parts.push(`${doc.chunks} passage${doc.chunks === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

function docItem(doc) {
  return el(
    "li",
    { className: "doc", "data-id": doc.id },
    el("div", { className: "doc-name", text: doc.name, title: doc.source }),
    el("div", { className: "doc-meta", text: describe(doc) }),
    el(
      "button",
      { type: "button", className: "doc-remove", "aria-label": `Remove ${doc.name} from the index`, onclick: () => remove(doc) },
      "Remove",
    ),
  );
}

export async function loadDocuments() {
  say("docs-message", "Loading…");
  try {
    const response = await request("/v1/documents");
    const { documents } = await response.json();
    documents.sort((a, b) => a.name.localeCompare(b.name));
    $("doc-list").replaceChildren(...documents.map(docItem));
    $("doc-count").textContent = `Indexed (${documents.length})`;
    say("docs-message", documents.length ? "" : "Nothing is indexed yet: add a file above.");
  } catch (err) {
    $("doc-list").replaceChildren();
    $("doc-count").textContent = "Indexed";
    const { title, detail } = explain(err);
    say("docs-message", `The document list could not be loaded. ${title} ${detail}`.trim(), "bad");
  }
}

const STATUS_WORDS = {
  added: "added",
  updated: "updated",
  unchanged: "already indexed, unchanged",
  skipped: "skipped",
};

function resultItem(r) {
  let text = STATUS_WORDS[r.status] || r.status;
  if (r.status === "added" || r.status === "updated") text += ` (${r.chunks} passage${r.chunks === 1 ? "" : "s"})`;
  if (r.reason) text += `: ${r.reason}`;
  return el(
    "li",
    { className: `result ${r.status}`, "data-status": r.status },
    el("span", { className: "result-name", text: r.name }),
    " ",
    el("span", { className: "result-status", text }),
  );
}

export async function upload(files) {
  files = Array.from(files || []);
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const what = files.length === 1 ? files[0].name : `${files.length} files`;
  say("upload-status", `Adding ${what}… (large files take a while to index)`);
  $("upload-results").replaceChildren();
  try {
    const response = await request("/v1/documents", { method: "POST", body: form });
    const { results } = await response.json();
    $("upload-results").replaceChildren(...results.map(resultItem));
    const added = results.filter((r) => r.status === "added" || r.status === "updated").length;
    say("upload-status", `${added} of ${results.length} file${results.length === 1 ? "" : "s"} indexed.`, added ? "good" : "");
    await loadDocuments();
  } catch (err) {
    const { title, detail } = explain(err);
    say("upload-status", `${what} was not added. ${title} ${detail}`.trim(), "bad");
  }
}

async function remove(doc) {
  if (!window.confirm(`Remove ${doc.name} from the index? Answers will no longer use it.`)) return;
  try {
    await request(`/v1/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
    say("upload-status", `${doc.name} was removed from the index.`);
  } catch (err) {
    const { title, detail } = explain(err);
    say("upload-status", `${doc.name} was not removed. ${title} ${detail}`.trim(), "bad");
  }
  await loadDocuments();
}

/** Drop on the drop zone (or anywhere on the panel) adds files; a drop elsewhere does not navigate away. */
export function wireUploads() {
  const zone = $("drop");
  const panel = $("docs");
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
  panel.addEventListener("dragover", (e) => {
    e.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
  panel.addEventListener("dragleave", (e) => {
    if (!panel.contains(e.relatedTarget)) zone.classList.remove("over");
  });
  panel.addEventListener("drop", (e) => {
    zone.classList.remove("over");
    upload(e.dataTransfer.files);
  });
  const input = $("file-input");
  input.addEventListener("change", () => {
    upload(input.files);
    input.value = ""; // choosing the same file again fires change again
  });
}
