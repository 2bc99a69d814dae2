"""Socket Mode: Slack pushes the same events over a WebSocket the bot opens, for teams without a public URL.

Requests arrive already authenticated by the app-level token (SLACK_APP_TOKEN, xapp-...), so there is no
signature to check; each envelope is acknowledged first, then handed to the same SlackBot handlers the
HTTP endpoint uses. slack_sdk's builtin client is used: no extra dependency.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from api.keys import Keys
from api.slack.bot import SlackBot
from rag.access import AccessFileError
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.service import AnswerService

log = logging.getLogger("api.slack")
Listener = Callable[[BaseSocketModeClient, SocketModeRequest], None]


def listener(bot: SlackBot) -> Listener:
    def on_request(client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        if req.type == "slash_commands":
            form = {k: str(v) for k, v in req.payload.items()}
            client.send_socket_mode_response(SocketModeResponse(req.envelope_id, payload=bot.handle_command(form)))
            return
        client.send_socket_mode_response(SocketModeResponse(req.envelope_id))  # ack before any work
        if req.type == "events_api":
            bot.handle_event(req.payload, req.retry_attempt)
        elif req.type == "interactive":
            bot.handle_action(req.payload)

    return on_request


def socket_client(bot: SlackBot, app_token: str) -> SocketModeClient:
    """A client wired to the bot; call .connect() to start receiving."""
    client = SocketModeClient(app_token=app_token, web_client=bot.client, auto_reconnect_enabled=True)
    client.socket_mode_request_listeners.append(listener(bot))
    return client


def missing_tokens(settings: Settings) -> str | None:
    """What Socket Mode lacks to start, said so a person can fix it; None when it can start."""
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not app_token.startswith("xapp-"):
        return (
            "Socket Mode needs SLACK_APP_TOKEN: an app-level token (xapp-...) with the connections:write scope, "
            "from the Basic Information page of the Slack app"
        )
    if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
        return "Socket Mode needs SLACK_BOT_TOKEN (xoxb-..., from the OAuth & Permissions page of the Slack app)"
    return None


def run(settings: Settings, pipeline: Pipeline, stop: threading.Event | None = None) -> int:
    """Connect and answer until stopped (Ctrl-C, or `stop` set)."""
    problem = missing_tokens(settings)
    if problem or settings.slack_app_token is None:
        log.error("%s", problem)
        return 2
    try:
        keys = Keys.load(settings)
    except AccessFileError as e:
        log.error("%s", e)
        return 2
    bot = SlackBot(settings, AnswerService(settings, pipeline.answerer), keys)
    client = socket_client(bot, settings.slack_app_token.get_secret_value())
    stop = stop or threading.Event()
    try:
        client.connect()
        log.info("Slack: connected in Socket Mode; answering @mentions, direct messages and /ask")
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        bot.close()
    return 0
