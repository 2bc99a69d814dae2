"""Slack's text both ways: questions out of Slack's markup, answers into mrkdwn and Block Kit."""

from __future__ import annotations

import re
from typing import Any

from rag.answering.answerer import Answer, Message
from rag.retrieval.retriever import Passage

WORKING = ":hourglass_flowing_sand: Looking through the documents…"
ACTION_HELPFUL = "feedback_helpful"
ACTION_NOT_HELPFUL = "feedback_not_helpful"
RATING_OF_ACTION = {ACTION_HELPFUL: "helpful", ACTION_NOT_HELPFUL: "not_helpful"}
QUOTE_CHARS = 160
SECTION_CHARS = 3000  # Slack rejects a section whose text is longer

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_SPECIAL = re.compile(r"<[#!]([^|>]+)(?:\|([^>]+))?>")  # channels, @here and friends


def plain_text(text: str, bot_user_id: str | None = None) -> str:
    """A message's text as a person wrote it: the bot's mention removed, links and entities undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    else:  # who we are is unknown: a leading mention is the one addressed to us
        text = re.sub(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>", " ", text)
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _SPECIAL.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def escape(text: str) -> str:
    """Slack treats &, < and > as markup; everything we did not write ourselves is escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The model writes Markdown; Slack reads mrkdwn (single * for bold, no headings).

    Links are never made live: the model copies them from documents, and a document can label a link as
    anything ("[the HR portal](https://evil.example)"). Shown as `label (url)`, the reader sees where it goes;
    the sections are `verbatim`, so Slack does not turn the URL into a link either."""
    text = escape(markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"__(.+?)__", r"*\1*", text)
    text = re.sub(r"^#{1,6}\s+(.+)$", r"*\1*", text, flags=re.M)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"\1 (\2)", text)
    return text


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip() + "…"


def quote(p: Passage, span: tuple[int, int] | None = None) -> str:
    """The sentence the answer rests on when it was located (`span`, document offsets), else the passage's start."""
    text = p.text[span[0] - p.start : span[1] - p.start] if span and p.start <= span[0] < span[1] <= p.end else p.text
    return clip(" ".join(text.split()), QUOTE_CHARS if span is None else SECTION_CHARS // 2)


def source_line(n: int, p: Passage, span: tuple[int, int] | None = None) -> str:
    """`[n] name · line 12, chars 340-780`: enough to find the passage (its words follow, in `source_quote`)."""
    name = escape(p.name.replace("`", "'"))  # a backtick in a file name would end the code span
    where = p.where if span is None else f"{p.where}; quoted chars {span[0]}-{span[1]}"
    return f"*[{n}]* `{name}` · {where}"


def source_quote(p: Passage, span: tuple[int, int] | None = None) -> dict[str, Any]:
    """The quote (the supporting sentence, if located) as plain text: no mrkdwn, no links, no mentions can come
    from a document."""
    title = f"{p.title} — " if p.title and p.title != p.name else ""
    return {"type": "plain_text", "text": clip(f"{title}“{quote(p, span)}”", SECTION_CHARS), "emoji": False}


def section(text: str) -> dict[str, Any]:
    # verbatim: Slack does not turn bare URLs and channel names into links; what we mark up stays marked up.
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_CHARS), "verbatim": True}}


def sources_blocks(
    items: list[tuple[int, Passage]], heading: str = "Sources", quotes: dict[int, tuple[int, int]] | None = None
) -> list[dict[str, Any]]:
    if not items:
        return []
    blocks: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{heading}*"}]}]
    for n, p in items:
        span = (quotes or {}).get(n)
        blocks += [section(source_line(n, p, span)), {"type": "context", "elements": [source_quote(p, span)]}]
    return blocks


def feedback_block(answer_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "feedback",
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_HELPFUL,
                "text": {"type": "plain_text", "text": ":thumbsup: Helpful", "emoji": True},
                "value": answer_id,
            },
            {
                "type": "button",
                "action_id": ACTION_NOT_HELPFUL,
                "text": {"type": "plain_text", "text": ":thumbsdown: Not helpful", "emoji": True},
                "value": answer_id,
            },
        ],
    }


def answer_message(answer: Answer, answer_id: str) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks). The text is the answer alone, so a thread's history reads cleanly."""
    text = to_mrkdwn(answer.answer)
    blocks = [section(text), *sources_blocks(answer.citations, quotes=answer.quotes), feedback_block(answer_id)]
    return clip(text, SECTION_CHARS), blocks


def failure_message(cause: str, passages: list[Passage]) -> tuple[str, list[dict[str, Any]]]:
    """The LLM is down: say so briefly, and still show what retrieval found."""
    text = f":warning: Sorry, I could not write an answer just now (the language model: {escape(cause)}). "
    text += "These passages looked most relevant:" if passages else "Please try again in a minute."
    items = list(enumerate(passages, 1))
    return text, [section(text), *sources_blocks(items, heading="Retrieved passages")]


WRITING_NOTE = "_:hourglass_flowing_sand: writing; checked against the documents when done_"


def writing(partial: str) -> str:
    """The placeholder while the answer is written: its words so far, said to be unchecked."""
    return f"{to_mrkdwn(partial)} …\n{WRITING_NOTE}"


def notice(text: str) -> tuple[str, list[dict[str, Any]]]:
    return text, [section(text)]


def thread_history(
    messages: list[dict[str, Any]],
    bot_user_id: str | None,
    bot_id: str | None,
    before_ts: str,
    limit: int,
    asker: str | None = None,
) -> list[Message]:
    """The thread's earlier messages as conversation: ours are the assistant's, everyone else's the user's. With
    `asker`, only that user's messages and our replies to them (ours that follow theirs, before anyone else's)."""
    out: list[Message] = []
    last_author: str | None = None  # who wrote the last message that is not ours
    for m in messages:
        if float(m.get("ts", "0")) >= float(before_ts):
            continue
        ours = (bot_user_id is not None and m.get("user") == bot_user_id) or (
            bot_id is not None and m.get("bot_id") == bot_id
        )
        if not ours:
            last_author = m.get("user")
        if asker is not None and last_author != asker:
            continue  # another person's message, or our answer to it
        text = m.get("text") or ""
        if ours and (text == WORKING or text.startswith(":warning:") or text.endswith(WRITING_NOTE)):
            continue  # a placeholder or an apology is not part of the conversation
        content = plain_text(text, bot_user_id)
        if content:
            out.append(Message("assistant" if ours else "user", content))
    return out[-limit:] if limit else []
