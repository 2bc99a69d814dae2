"""POST /slack/events: Slack's Events API, slash commands and button clicks, on one signed endpoint.

Built on slack_sdk directly rather than Bolt: Bolt's FastAPI adapter runs a synchronous Bolt App on the
event loop (or, async, needs aiohttp and an async pipeline we do not have); we need the ack to go out
before any slow work, a retry store that survives restarts, and handlers shared with Socket Mode. That
is a signature check, a dispatch on the payload's shape, and a thread pool: little code, all visible.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from api.errors import error_body
from api.keys import Keys
from api.slack.bot import SlackBot
from rag.config import Settings
from rag.service import AnswerService

log = logging.getLogger("api.slack")
router = APIRouter(tags=["slack"])


def mount(app: FastAPI, settings: Settings, service: AnswerService, keys: Keys | None = None) -> SlackBot:
    """Add the Slack endpoint to the app; needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET."""
    if settings.slack_signing_secret is None or not settings.slack_signing_secret.get_secret_value():
        raise ValueError("the Slack endpoint needs SLACK_SIGNING_SECRET (Basic Information page of the Slack app)")
    bot = SlackBot(settings, service, keys)
    app.state.slack = bot
    app.state.slack_verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    app.include_router(router)
    app.router.on_shutdown.append(bot.close)
    log.info("Slack: answering at POST /slack/events (Web API %s)", settings.slack_api_url)
    return bot


def signed(verifier: SignatureVerifier, body: bytes, headers: Any) -> bool:
    """v0 HMAC-SHA256 of 'v0:{timestamp}:{body}' with the signing secret, timestamp within 5 minutes."""
    try:
        return verifier.is_valid_request(body, dict(headers))
    except ValueError:  # a timestamp that is not a number
        return False


def unauthorized(reason: str) -> JSONResponse:
    log.warning("Slack request refused: %s", reason)
    return JSONResponse(error_body("unauthorized", f"{reason}; check SLACK_SIGNING_SECRET"), 401)


@router.post(
    "/slack/events",
    summary="Slack Events API, slash commands and interactivity (signed by Slack)",
    responses={401: {"description": "missing, bad or stale signature"}},
)
async def slack_events(request: Request) -> Response:
    body = await request.body()
    if not request.headers.get("x-slack-signature"):
        return unauthorized("no X-Slack-Signature header")
    if not signed(request.app.state.slack_verifier, body, request.headers):
        return unauthorized("bad signature or timestamp older than 5 minutes")
    bot: SlackBot = request.app.state.slack
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # A signed command or click can be captured and sent again within the 5 minutes the timestamp allows;
        # Slack never retries these, so a signature seen before is a replay. (Events are retried by Slack and
        # are answered once by their event_id instead.)
        if not await run_in_threadpool(bot.seen.claim, "sig:" + request.headers.get("x-slack-signature", "")):
            log.warning("Slack request refused: a replay of a command or click already handled")
            return JSONResponse(error_body("conflict", "this signed request was already handled (a replay)"), 409)
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        if "payload" in form:  # a button click
            try:
                payload = json.loads(form["payload"])
            except ValueError:
                return JSONResponse(error_body("bad_request", "the 'payload' field is not JSON"), 400)
            if not isinstance(payload, dict):
                return JSONResponse(error_body("bad_request", "the 'payload' field is not a JSON object"), 400)
            await run_in_threadpool(bot.handle_action, payload)
            return Response(status_code=200)
        if "command" in form:
            return JSONResponse(await run_in_threadpool(bot.handle_command, form))
        return Response(status_code=200)
    try:
        data = json.loads(body)
    except ValueError:
        return JSONResponse(error_body("bad_request", "the body is neither JSON nor a form"), 400)
    if not isinstance(data, dict):
        return JSONResponse(error_body("bad_request", "the JSON body is not an object"), 400)
    if data.get("type") == "url_verification":
        return JSONResponse({"challenge": data.get("challenge", "")})
    if data.get("type") == "event_callback":
        retry = request.headers.get("x-slack-retry-num")
        await run_in_threadpool(bot.handle_event, data, int(retry) if retry and retry.isdigit() else None)
    return Response(status_code=200)
