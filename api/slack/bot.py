"""The Slack bot: what to do with an event, a slash command or a button click, whichever way it arrived.

The HTTP route (api/slack/events.py) and Socket Mode (api/slack/socket.py) both call these handlers after
checking where a request came from. Handlers return at once: answering takes seconds to tens of seconds,
and Slack wants its acknowledgement within 3, so the answer is written in a worker thread. No answering
logic lives here: questions go to the answer service (rag/service.py), as they do from /v1/ask, and wait at
its generation gate: a question takes its place there when it arrives, so a full queue is said at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from api.keys import Keys
from api.slack import format as fmt
from api.slack.readers import SlackReaders
from api.slack.seen import make_seen
from rag.access import Reader
from rag.answering.answerer import AnswerFailed, Message
from rag.answering.history import cap_history
from rag.config import Settings
from rag.index.feedback import UnknownAnswer
from rag.service import AnswerService, Asker, Busy, Finished, Rejected, Ticket

log = logging.getLogger("api.slack")
Blocks = list[dict[str, Any]]


def busy_text(e: Busy) -> str:
    return f":hourglass: I am busy answering other questions; please ask again in {e.retry_after} s."


@dataclass(frozen=True)
class Question:
    """One question to answer and where the answer goes."""

    text: str
    user: str
    channel: str
    thread_ts: str | None = None  # events: the thread the answer goes in
    response_url: str | None = None  # slash commands: where the answer is posted
    in_channel: bool = False

    @property
    def private(self) -> bool:
        """Only the asker will read the answer: a direct message (a D... channel), or a slash command's reply that
        only they see. Anywhere else the channel reads it too."""
        return self.channel.startswith("D") or (self.response_url is not None and not self.in_channel)


class SlackBot:
    def __init__(self, settings: Settings, service: AnswerService, keys: Keys | None = None) -> None:
        if settings.slack_bot_token is None:
            raise ValueError("the Slack bot needs SLACK_BOT_TOKEN (a bot token, xoxb-...)")
        self.settings = settings
        self.service = service
        base_url = settings.slack_api_url.rstrip("/") + "/"  # slack_sdk joins method names onto it
        self.client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=base_url, timeout=15)
        # Who may read what: the [[slack]] entries of RAG_KEYS_FILE; a user they do not name reads public documents.
        self.readers = SlackReaders((keys if keys is not None else Keys.load(settings)).slack, self.client)
        self.seen = make_seen(settings)
        # As many workers as answers may be written at once: the gate decides who writes, these only carry it.
        workers = max(2, service.gate.slots)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-answer")
        # Quick replies (a thank-you for a vote) must not wait behind answers being written.
        self.quick = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-reply")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._identity: tuple[str | None, str | None] | None = None

    # Handlers: quick, called before the acknowledgement -------------------------------------------------
    def handle_event(self, body: dict[str, Any], retry_num: int | None = None) -> None:
        """An Events API callback: answer @mentions and direct messages, once each."""
        event = body.get("event") or {}
        kind = event.get("type")
        direct = kind == "message" and event.get("channel_type") == "im"
        if kind != "app_mention" and not direct:
            return
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, and bots (ourselves included) are not questions
        channel, ts = event.get("channel", ""), event.get("ts", "")
        # The message key catches the same message arriving twice under different event ids.
        event_id = body.get("event_id")
        keys = [f"event:{event_id}" if event_id else "", f"message:{channel}:{ts}" if channel and ts else ""]
        if not self.seen.claim(*keys):
            log.info("event %s already handled (retry %s): not answering again", body.get("event_id"), retry_num)
            return
        with self._lock:  # places at the gate in the order the answers are queued for the workers
            try:
                ticket = self.service.gate.enter()
            except Busy as e:
                where = Question("", event.get("user", ""), channel, thread_ts=event.get("thread_ts") or ts)
                self._submit(self._deliver, where, None, *fmt.notice(busy_text(e)), pool=self.quick)
                return
            self._submit(self._answer_event, event, ticket)

    def handle_command(self, form: dict[str, str]) -> dict[str, Any]:
        """A slash command; returns the acknowledgement to send back to Slack at once."""
        text = fmt.plain_text(form.get("text", ""))
        command = form.get("command", "/ask")
        if not text:
            return {"response_type": "ephemeral", "text": f"Ask a question about the documents: `{command} <question>`"}
        question = Question(
            text=text,
            user=form.get("user_id", ""),
            channel=form.get("channel_id", ""),
            response_url=form.get("response_url"),
            in_channel=self.settings.slack_slash_in_channel,
        )
        with self._lock:
            try:
                ticket = self.service.gate.enter()
            except Busy as e:
                return {"response_type": "ephemeral", "text": busy_text(e)}
            self._submit(self._answer, question, [], ticket)
        return {"response_type": "ephemeral", "text": f"{fmt.WORKING} (_{fmt.escape(text)}_)"}

    def handle_action(self, payload: dict[str, Any]) -> None:
        """A button click: record the vote now (it is quick), thank the person after the ack."""
        if payload.get("type") != "block_actions":
            return
        user = (payload.get("user") or {}).get("id", "")
        for action in payload.get("actions") or []:
            rating = fmt.RATING_OF_ACTION.get(action.get("action_id", ""))
            if rating is None:
                continue
            try:
                self.service.feedback.record(action.get("value", ""), user, rating)
                reply = f"Thanks, your feedback is recorded: {rating.replace('_', ' ')}."
                log.info("feedback %s from %s on answer %s", rating, user, action.get("value"))
            except UnknownAnswer:
                reply = "That answer is too old to rate, sorry: ask again and rate the new one."
            if payload.get("response_url"):
                self._submit(
                    self._post_response,
                    payload["response_url"],
                    {"response_type": "ephemeral", "text": reply, "replace_original": False},
                    pool=self.quick,
                )

    # Workers: after the acknowledgement ------------------------------------------------------------------
    def _submit(self, fn: Callable[..., None], *args: Any, pool: ThreadPoolExecutor | None = None) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception:  # a worker's failure is logged, never lost and never fatal
                log.exception("Slack handler %s failed", fn.__name__)

        future = (pool or self.pool).submit(run)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def _answer_event(self, event: dict[str, Any], ticket: Ticket) -> None:
        try:
            bot_user, bot_id = self.identity()
            ts = event.get("ts", "")
            thread_ts = event.get("thread_ts")
            question = Question(
                text=fmt.plain_text(event.get("text", ""), bot_user),
                user=event.get("user", ""),
                channel=event.get("channel", ""),
                thread_ts=thread_ts or ts,
            )
            history = []
            if thread_ts:
                history = self._thread_history(question.channel, thread_ts, ts, bot_user, bot_id, question.user)
            self._answer(question, history, ticket)
        finally:
            ticket.release()  # given back however the answer ended (the service gives it back too: no harm)

    def _answer(self, q: Question, history: list[Message], ticket: Ticket) -> None:
        try:
            if not q.text:
                self._deliver(q, None, *fmt.notice("Ask me a question about the documents, e.g. _@me what is …?_"))
                return
            try:
                self.service.limits(q.text, history)
            except Rejected as e:
                self._deliver(q, None, *fmt.notice(f"I cannot take that question: {e}."))
                return
            placeholder = None
            if q.response_url is None:  # a slash command's acknowledgement already says we are working
                sent = self._call(
                    "chat.postMessage",
                    self.client.chat_postMessage,
                    channel=q.channel,
                    thread_ts=q.thread_ts,
                    text=fmt.WORKING,
                )
                placeholder = sent.get("ts") if sent else None
            try:
                done = self._write(q, history, placeholder, ticket)
            except Busy as e:
                self._deliver(q, placeholder, *fmt.notice(busy_text(e)))
                return
            except AnswerFailed as e:
                log.warning("LLM failed for a Slack question: %s", e)
                self._deliver(q, placeholder, *fmt.failure_message(e.error.cause, e.passages))
                return
            except Exception:
                log.exception("answering a Slack question failed")
                self._deliver(
                    q, placeholder, *fmt.notice(":warning: Sorry, something went wrong; the server's log says what.")
                )
                return
        finally:
            ticket.release()
        text, blocks = fmt.answer_message(done.answer, done.answer_id or "")
        if q.response_url and q.in_channel:  # the command itself was not shown: say what was asked
            asked = f"<@{q.user}> asked: _{fmt.escape(q.text)}_"
            blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": fmt.clip(asked, 2000)}]}, *blocks]
        self._deliver(q, placeholder, text, blocks)

    def _write(self, q: Question, history: list[Message], placeholder: str | None, ticket: Ticket) -> Finished:
        """The answer, with the placeholder message showing its words as they are written (at most every
        `slack_update_seconds`, inside Slack's rate limits), marked as not yet checked."""
        written, last = "", 0.0

        def on_token(text: str) -> None:
            nonlocal written, last
            if not placeholder:
                return
            written += text
            last = last or time.monotonic()  # the first words wait one interval: most answers are short
            if time.monotonic() - last >= self.settings.slack_update_seconds:
                last = time.monotonic()
                shown = fmt.writing(written)
                self._call("chat.update", self.client.chat_update, channel=q.channel, ts=placeholder, text=shown)

        place = f"{q.channel}/{q.thread_ts}" if q.thread_ts else q.channel
        # An answer posted where others read it (a channel, a group DM, an in-channel /ask) is drawn from the
        # documents everyone may read: the asker's groups are not the channel's. Their own documents they get in a
        # direct message, or from /ask, whose reply only they see.
        reader = self.readers.reader(q.user) if q.private else Reader.public(f"slack:{q.user or 'unknown'}")
        asker = Asker("slack", q.user, place, reader=reader)
        return self.service.ask_sync(q.text, history, asker, ticket=ticket, on_token=on_token)

    def _deliver(self, q: Question, placeholder: str | None, text: str, blocks: Blocks) -> None:
        if q.response_url:
            kind = "in_channel" if q.in_channel else "ephemeral"
            self._post_response(q.response_url, {"response_type": kind, "text": text, "blocks": blocks})
            return
        if placeholder and self._call(
            "chat.update", self.client.chat_update, channel=q.channel, ts=placeholder, text=text, blocks=blocks
        ):
            return
        self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=q.channel,
            thread_ts=q.thread_ts,
            text=text,
            blocks=blocks,
        )

    def _post_response(self, url: str, body: dict[str, Any]) -> None:
        try:
            resp = WebhookClient(url, timeout=15).send_dict(body)
        except Exception as e:
            log.error("Slack response_url post failed: %s: %s", type(e).__name__, e)
            return
        if resp.status_code != 200:
            log.error("Slack response_url post failed: HTTP %d %s", resp.status_code, resp.body[:200])

    def _thread_history(
        self, channel: str, thread_ts: str, before_ts: str, bot_user: str | None, bot_id: str | None, asker: str
    ) -> list[Message]:
        """The asker's own conversation in the thread: their messages and our answers to them. Another person's
        question, and our answer to it (drawn from the documents they may read), is no part of this one's."""
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(10):  # a thread of 1,000 messages is history enough
            resp = self._call(
                "conversations.replies",
                self.client.conversations_replies,
                channel=channel,
                ts=thread_ts,
                limit=200,
                cursor=cursor,
            )
            if not resp:
                break
            messages += resp.get("messages") or []
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        history = fmt.thread_history(
            messages, bot_user, bot_id, before_ts, self.settings.max_history_messages, asker=asker
        )
        return cap_history(history, self.settings.max_history_messages, self.settings.max_history_chars)

    def identity(self) -> tuple[str | None, str | None]:
        """(bot user id, bot id) from auth.test, asked once; (None, None) while Slack cannot say."""
        if self._identity is None:
            resp = self._call("auth.test", self.client.auth_test)
            if not resp:
                return None, None
            self._identity = (resp.get("user_id"), resp.get("bot_id"))
        return self._identity

    def _call(self, method: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """Call the Web API; on failure log the method and Slack's error code and return None."""
        try:
            return fn(**{k: v for k, v in kwargs.items() if v is not None})
        except SlackApiError as e:
            log.error("Slack API %s failed: %s", method, e.response.get("error", "unknown_error"))
        except Exception as e:  # network errors: Slack unreachable, timeouts
            log.error("Slack API %s failed: %s: %s", method, type(e).__name__, e)
        return None

    # Lifecycle ----------------------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for the answers being written; True when none is left. For shutdown and tests."""
        with self._pending_lock:
            pending = set(self._pending)
        if not pending:
            return True
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.quick.shutdown(wait=False)
        self.seen.close()
