"""GET / (the chat page) and GET /static/{name} (its script, styles and icon). No key needed to load them:
the page asks for one itself when the API answers 401."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import APIError

STATIC = Path(__file__).resolve().parent.parent / "static"

# The page may talk to its own origin only. The browser enforces this, so a future edit that adds a CDN
# font or script fails loudly in the browser tests instead of quietly phoning out.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}

router = APIRouter(tags=["page"], include_in_schema=False)


@router.get("/")
async def chat_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    # Browsers ask for this path whatever the page says; answer it rather than log a 404 per visit.
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    # Only files directly in api/static/ by exact name: no paths, so nothing outside it can be reached.
    path = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise APIError(404, "not_found", f"no static file named {name!r}")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        headers=PAGE_HEADERS,  # the page itself is reachable here too (/static/index.html): same policy
    )
