"""Server-Sent Events framing."""

from __future__ import annotations

import json
from typing import Any

from api.public import redact


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(redact(data), ensure_ascii=False)}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
