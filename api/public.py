"""What the API shows of where a document lives: a path relative to the server's working directory (where
`make run` starts it: `seeds/…`, `data/uploads/…`), else the file name alone. Never the server's absolute
paths: they tell a caller how the machine is laid out (user names, mount points) and help no one read an answer.

One place, applied to every JSON body and every streamed event, so a new endpoint cannot forget it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse


def public_source(source: str) -> str:
    if not os.path.isabs(source):
        return source
    try:
        rel = Path(source).relative_to(Path.cwd())
    except ValueError:
        return Path(source).name
    return rel.as_posix()


def redact(obj: Any) -> Any:
    """A copy of a JSON-like value whose `source` fields are public paths."""
    if isinstance(obj, dict):
        return {k: public_source(v) if k == "source" and isinstance(v, str) else redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


class PublicJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return super().render(redact(content))
