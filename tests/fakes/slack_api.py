"""A small Slack Web API over real HTTP on 127.0.0.1, for slack_sdk's WebClient pointed at it by base URL.

It keeps channels' messages (so `conversations.replies` returns a real thread, the bot's own answers
included), records every call with its arguments, accepts POSTs to response URLs it hands out, and can
be told to fail a method the way Slack does: HTTP 200 with {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str


@dataclass
class ResponsePost:
    path: str
    body: dict[str, Any]


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    responses: list[ResponsePost] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # method -> Slack error code to return
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> messages
    socket_url: str = ""  # what apps.connections.open hands out
    usergroups: dict[str, list[str]] = field(default_factory=dict)  # user group id -> member user ids

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/api/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # For tests ------------------------------------------------------------------------------------------
    def next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def add_user_message(self, channel: str, text: str, user: str = "UHUMAN01", thread_ts: str | None = None) -> str:
        """A message a person posted (Slack stores it before it sends us the event); returns its ts."""
        ts = self.next_ts()
        msg = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        with self._lock:
            self.messages.setdefault(channel, []).append(msg)
        return ts

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError(f"fake Slack: condition not met in {timeout} s; calls: {[c.method for c in self.calls]}")

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    # The Web API ------------------------------------------------------------------------------------------
    def handle(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append(Call(method, args, token))
            if method in self.errors:
                return {"ok": False, "error": self.errors[method]}
            if method == "auth.test":
                return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T0001", "user": "seedrag"}
            if method == "chat.postMessage":
                if not args.get("channel"):
                    return {"ok": False, "error": "channel_not_found"}
                msg = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": self.next_ts()}
                msg |= {k: args[k] for k in ("text", "blocks", "thread_ts") if k in args}
                self.messages.setdefault(args["channel"], []).append(msg)
                return {"ok": True, "channel": args["channel"], "ts": msg["ts"], "message": msg}
            if method == "chat.update":
                for msg in self.messages.get(args.get("channel", ""), []):
                    if msg["ts"] == args.get("ts"):
                        msg |= {k: args[k] for k in ("text", "blocks") if k in args}
                        return {"ok": True, "channel": args["channel"], "ts": msg["ts"], "text": msg.get("text")}
                return {"ok": False, "error": "message_not_found"}
            if method == "conversations.replies":
                thread = args.get("ts")
                found = [
                    dict(m)
                    for m in self.messages.get(args.get("channel", ""), [])
                    if thread in (m["ts"], m.get("thread_ts"))
                ]
                if not found:
                    return {"ok": False, "error": "thread_not_found"}
                return {"ok": True, "messages": sorted(found, key=lambda m: float(m["ts"])), "has_more": False}
            if method == "apps.connections.open":
                return {"ok": True, "url": self.socket_url}
            if method == "usergroups.users.list":
                if args.get("usergroup") not in self.usergroups:
                    return {"ok": False, "error": "no_such_subteam"}
                return {"ok": True, "users": list(self.usergroups[args["usergroup"]])}
            if method == "reactions.add":
                return {"ok": True}
            return {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, data: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _args(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            args: dict[str, Any] = dict(parse_qsl(parts.query))
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            if raw and self.headers.get("Content-Type", "").startswith("application/json"):
                args |= json.loads(raw)
            elif raw:
                args |= dict(parse_qsl(raw.decode()))
                if isinstance(args.get("blocks"), str):
                    args["blocks"] = json.loads(args["blocks"])
            return args

        def _route(self) -> None:
            path = urlsplit(self.path).path
            args = self._args()
            if path.startswith("/response/"):
                with fake._lock:
                    fake.responses.append(ResponsePost(path, args))
                return self._send(200, b"ok", "text/plain")
            if not path.startswith("/api/"):
                return self._send(404, b"not found", "text/plain")
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            body = fake.handle(path.removeprefix("/api/"), args, token)
            self._send(200, json.dumps(body).encode(), "application/json; charset=utf-8")

        do_GET = _route
        do_POST = _route

    return Handler
