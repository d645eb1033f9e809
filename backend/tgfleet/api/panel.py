"""The web panel: the Vite build in ``frontend/dist`` served on the API's own origin.

``/`` answers the panel's ``index.html`` (the sign-in page: public, every datum comes from the
authenticated API) and ``/assets/<file>`` the hashed bundles Vite writes; nothing else is
claimed, so API routes registered before or after stay reachable and unknown paths keep their
problem 404. Responses carry the headers a page that holds a session needs: a CSP that allows
only this origin (the panel loads nothing from elsewhere, no CDN, no web fonts), no framing,
no sniffing, no referrer. A daemon started before the panel was built answers ``/`` with a 503
problem that says how to build it, rather than a bare 404.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response

from tgfleet.api.problems import problem

# Where the build is looked for unless settings say (``panel_dir``, TGFLEET_PANEL_DIR: the Docker
# image sets it): the repository's frontend/dist next to backend/ (an editable install, `make run`).
REPO_DIST = Path(__file__).resolve().parents[3] / "frontend" / "dist"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# Vite names every asset by its content hash: a new build is a new name, so a year is safe.
ASSET_CACHE = "public, max-age=31536000, immutable"
# index.html names the current bundles: always asked again, so a rebuild shows at once.
INDEX_CACHE = "no-cache"
# Explicit, because mimetypes differs between Pythons (and platforms) for .js.
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# One flat directory of hashed names: anything else (a slash, "..") is not an asset.
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
NOT_BUILT = "panel not built: run `make run`, or `npm ci && npm run build` in frontend/"


def _not_built(request: Request, dist: Path) -> Response:
    return problem(
        503,
        "panel-not-built",
        "Panel not built",
        f"{NOT_BUILT} (looked for {dist / 'index.html'})",
        headers={"Retry-After": "30", **SECURITY_HEADERS},
        instance=request.url.path,
    )


def panel_router(dist: Path) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    index = dist / "index.html"
    assets = dist / "assets"

    @router.api_route("/", methods=["GET", "HEAD"])
    async def panel_index(request: Request) -> Response:
        # checked on each request: a build made while the daemon runs is picked up
        if not index.is_file():
            return _not_built(request, dist)
        return FileResponse(
            index,
            media_type="text/html; charset=utf-8",
            headers={**SECURITY_HEADERS, "Cache-Control": INDEX_CACHE},
        )

    @router.api_route("/assets/{name}", methods=["GET", "HEAD"])
    async def panel_asset(name: str, request: Request) -> Response:
        if not index.is_file():
            return _not_built(request, dist)
        path = assets / name
        if not _ASSET_NAME.fullmatch(name) or ".." in name or not path.is_file():
            return problem(
                404,
                "not-found",
                "Not found",
                f"no panel asset {name!r}; the page may be from an older build: reload it",
                headers=SECURITY_HEADERS,
                instance=request.url.path,
            )
        media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(
            path, media_type=media_type, headers={**SECURITY_HEADERS, "Cache-Control": ASSET_CACHE}
        )

    return router


def install_panel(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the panel; call after the API routes (it claims only ``/`` and ``/assets/``)."""
    app.include_router(panel_router(dist if dist is not None else REPO_DIST))
