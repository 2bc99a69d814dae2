// Talking to the seedrag API: the key kept in this browser, errors in plain words, and reading the
// POST /v1/ask/stream Server-Sent Events with fetch() (EventSource cannot send a POST body).

const KEY_STORAGE = "seedrag.apiKey";

export function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled (private mode, policy): the page still works without keys
  }
}

export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* see storedKey */
  }
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

export class ApiError extends Error {
  constructor(status, type, message, passages = []) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0 when the server was never reached
    this.type = type;
    this.passages = passages;
  }
}

/** An ApiError from a non-2xx response, read from the API's {"error": {type, message}} body when it has one. */
export async function readError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: a proxy's error page, say */
  }
  const err = (body && body.error) || {};
  return new ApiError(
    response.status,
    err.type || "http_error",
    err.message || `${response.status} ${response.statusText}`.trim(),
    (body && body.passages) || [],
  );
}

/** fetch(), with the key attached and a failure to connect turned into an ApiError with status 0. */
export async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", e.message || String(e));
  }
  if (response.status === 401) {
    const err = await readError(response);
    window.dispatchEvent(new CustomEvent("seedrag:need-key", { detail: err.message }));
    throw err;
  }
  if (!response.ok) throw await readError(response);
  return response;
}

/** Yields {event, data} from a text/event-stream response body as the bytes arrive. */
export async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(0, "network", e.message || String(e));
    }
    if (chunk.done) return;
    buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

/** {title, detail}: what went wrong in plain words, and the server's own message for those who want it. */
export function explain(err) {
  const detail = err.message || "";
  if (!(err instanceof ApiError) || err.status === 0) {
    return {
      title: "Could not reach the seedrag server.",
      detail: "Check that it is still running and that you can reach it, then try again.",
    };
  }
  const byStatus = {
    401: storedKey()
      ? "The API key was not accepted. Enter a valid key and try again."
      : "This server needs an API key. Enter one and try again.",
    404: "The server does not know this address; it may be an older version.",
    413: "That is too large for this server.",
    422: "The server could not use that request.",
    429: "The server is busy. Wait a moment and try again.",
    502: "The language model failed while writing the answer, so there is no answer.",
    503: "The language model is not reachable right now, so there is no answer.",
    504: "The language model took too long to answer, so there is no answer.",
  };
  let title = byStatus[err.status];
  if (!title && err.type === "llm_unavailable") title = "The language model could not answer, so there is no answer.";
  if (!title) title = err.status >= 500 ? "The server failed while answering." : "The server refused the request.";
  return { title, detail };
}
