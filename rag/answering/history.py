"""How much of a conversation may reach the LLM: every caller (API, Slack) caps it here before any call.

A follow-up question is rewritten with the conversation; a client that sends a novel as "history" would
otherwise make every rewrite cost that novel in tokens (on a paid API, money). The newest messages matter
most for a follow-up, so the oldest are dropped first.
"""

from __future__ import annotations

from rag.answering.answerer import Message


def cap_history(history: list[Message], max_messages: int, max_chars: int) -> list[Message]:
    """The newest messages, at most `max_messages` of them and `max_chars` characters in all (the oldest
    one kept is cut at the end if it does not fit whole)."""
    kept: list[Message] = []
    budget = max_chars
    for m in reversed(history[-max_messages:] if max_messages else []):
        if budget <= 0:
            break
        content = m.content if len(m.content) <= budget else m.content[:budget].rstrip() + "…"
        kept.append(Message(m.role, content))
        budget -= len(m.content)
    return kept[::-1]
