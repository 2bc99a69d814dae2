"""How much of a conversation may reach the LLM: every caller (API, Slack) caps it here before any call.

A follow-up question is rewritten with the conversation; a client that sends a novel as "history" would
otherwise make every rewrite cost that novel in tokens (on a paid API, money). The newest messages matter
most for a follow-up, so the oldest are dropped first.
"""

from __future__ import annotations

import re

from rag.answering.answerer import Message

# What the OpenAI-compatible route appends to a streamed answer (api/routes/chat_completions.py), and clients
# send back as the assistant's turn: the checked answer, when the check changed the words already streamed,
# then the numbered sources.
SOURCES_HEADING = "\n\nSources:\n"
CHECKED_HEADING = "\n\nChecked answer: "
_SOURCES = re.compile(r"\n\s*Sources:\s*\n")
_CHECKED = re.compile(r"\n\s*Checked answer:\s*")


def answer_of(text: str) -> str:
    """What an assistant turn sent back by a client said, as checked: a streamed draft the check withheld or
    corrected is replaced by what follows 'Checked answer:' (never kept: the follow-up would be rewritten from
    the unsupported draft), and our list of sources is cut."""
    checked = list(_CHECKED.finditer(text))
    if checked:
        text = text[checked[-1].end() :]
    return _SOURCES.split(text, 1)[0].strip()


def cap_history(history: list[Message], max_messages: int, max_chars: int) -> list[Message]:
    """The newest messages, at most `max_messages` of them and `max_chars` characters in all (the oldest
    one kept is cut at the end if it does not fit whole); assistant turns as checked (`answer_of`)."""
    kept: list[Message] = []
    budget = max_chars
    history = [Message(m.role, answer_of(m.content)) if m.role == "assistant" else m for m in history]
    for m in reversed(history[-max_messages:] if max_messages else []):
        if budget <= 0:
            break
        content = m.content if len(m.content) <= budget else m.content[:budget].rstrip() + "…"
        kept.append(Message(m.role, content))
        budget -= len(m.content)
    return kept[::-1]
