// Answer text to DOM, safely: the model's words only ever become text nodes (never HTML), and the
// markers [1] / [1, 2] become buttons that open the cited passage.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "hidden") node.hidden = Boolean(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

/** "line 12 · page 3 · characters 840–1,290": where a passage sits in its document. */
export function position(p) {
  const parts = [];
  if (p.page) parts.push(p.page_label || `page ${p.page}`);
  if (p.line) parts.push(`line ${p.line}`);
  if (Number.isInteger(p.start) && Number.isInteger(p.end)) {
    parts.push(`characters ${p.start.toLocaleString("en")}–${p.end.toLocaleString("en")}`);
  }
  return parts.join(" · ");
}

export function citeButton(n, passage, onCite) {
  const where = position(passage);
  return el(
    "button",
    {
      type: "button",
      className: "cite",
      "data-cite": n,
      "aria-label": `Source ${n}: ${passage.name}${where ? `, ${where}` : ""}`,
      title: `${passage.name}${where ? ` (${where})` : ""}`,
      onclick: () => onCite(n, passage),
    },
    `[${n}]`,
  );
}

const INLINE = /\*\*([^*\n]+)\*\*|`([^`\n]+)`|\[(\d+(?:\s*,\s*\d+)*)\]/g;

function appendInline(parent, text, lookup, onCite) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    if (m[1] !== undefined) parent.append(el("strong", { text: m[1] }));
    else if (m[2] !== undefined) parent.append(el("code", { text: m[2] }));
    else {
      for (const n of m[3].split(",").map((s) => Number.parseInt(s, 10))) {
        const passage = lookup(n);
        // A number naming no passage stays plain text: the server removes such markers when it checks.
        parent.append(passage ? citeButton(n, passage, onCite) : `[${n}]`);
      }
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

const BULLET = /^\s*[-*•]\s+/;
const NUMBERED = /^\s*\d+[.)]\s+/;

/** Replace container's content with text rendered as paragraphs and simple lists, markers as buttons. */
export function renderAnswer(container, text, lookup, onCite) {
  const blocks = [];
  for (const chunk of text.split(/\n{2,}/)) {
    let list = null;
    let para = null;
    for (const line of chunk.split("\n")) {
      const kind = BULLET.test(line) ? "ul" : NUMBERED.test(line) ? "ol" : null;
      if (kind) {
        if (!list || list.tagName.toLowerCase() !== kind) blocks.push((list = el(kind)));
        para = null;
        const item = el("li");
        appendInline(item, line.replace(kind === "ul" ? BULLET : NUMBERED, ""), lookup, onCite);
        list.append(item);
      } else if (line.trim()) {
        list = null;
        if (para) para.append(el("br"));
        else blocks.push((para = el("p")));
        appendInline(para, line, lookup, onCite);
      }
    }
  }
  container.replaceChildren(...blocks);
}

/** The document's title when it says more than its file name (many titles are just the name). */
export function distinctTitle(doc) {
  const stem = doc.name.replace(/\.[^.]+$/, "");
  return doc.title && doc.title !== doc.name && doc.title !== stem ? doc.title : "";
}

/**
 * The supporting sentence inside a passage, as [before, quote, after]; null when there is none. The server's
 * offsets count code points (Python), so slice code points, not UTF-16 units, or an emoji would shift the mark.
 */
export function quoteParts(p) {
  const q = p.quote;
  if (!q || !Number.isInteger(q.start) || q.start < p.start || q.end > p.end || q.end <= q.start) return null;
  const chars = Array.from(p.text);
  const a = q.start - p.start;
  const b = q.end - p.start;
  return [chars.slice(0, a).join(""), chars.slice(a, b).join(""), chars.slice(b).join("")];
}

/** Open the passage dialog on one passage: its document, where it sits, its exact text, the quote marked. */
export function showPassage(n, p) {
  const dialog = document.getElementById("passage-dialog");
  const title = distinctTitle(p) ? `${p.name} — ${p.title}` : p.name;
  document.getElementById("passage-title").textContent = `[${n}] ${title}`;
  document.getElementById("passage-where").textContent = position(p);
  const parts = quoteParts(p);
  const box = document.getElementById("passage-text");
  if (parts) box.replaceChildren(parts[0], el("mark", { className: "quote", text: parts[1] }), parts[2]);
  else box.textContent = p.text;
  document.getElementById("passage-source").textContent = p.source;
  if (!dialog.open) dialog.showModal();
  document.getElementById("passage-close").focus();
}
