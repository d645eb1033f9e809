"""The panel is served on the API's origin: index and assets with their headers, a clear 503
when it is not built, and a build that asks nothing of any other host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tgfleet.api.panel import REPO_DIST, install_panel
from tgfleet.api.problems import install_problem_handlers
from tgfleet.app import create_app
from tgfleet.settings import load_settings

# The fixture builds a small dist of its own, so these tests do not depend on npm; the last
# test reads the real build, which `make test` makes before pytest runs.
INDEX = """<!doctype html><html><head>
<script type="module" crossorigin src="/assets/index-abc123.js"></script>
<link rel="stylesheet" href="/assets/index-abc123.css"></head>
<body><div id="app"></div></body></html>
"""


def _app(dist: Path) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/api/v1/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    install_panel(app, dist)
    return app


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('tgfleet');\n")
    (root / "assets" / "index-abc123.css").write_text("body{margin:0}\n")
    (root / "assets" / "favicon-x1.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return root


@pytest.fixture
def client(dist: Path) -> Iterator[TestClient]:
    with TestClient(_app(dist)) as test_client:
        yield test_client


def test_index_is_served_with_the_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<div id="app">' in response.text
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]  # no inline script, no other host
    assert directives["connect-src"] == ["'self'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"


def test_assets_are_served_with_their_content_types(client: TestClient) -> None:
    expected = {
        "index-abc123.js": "text/javascript",
        "index-abc123.css": "text/css",
        "favicon-x1.svg": "image/svg+xml",
    }
    for name, media_type in expected.items():
        response = client.get(f"/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].split(";")[0] == media_type, name
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in response.headers["cache-control"]


def test_unknown_or_escaping_asset_paths_are_404_problems(client: TestClient, dist: Path) -> None:
    (dist / "secret.txt").write_text("outside assets")
    for path in ("/assets/nope.js", "/assets/..%2Fsecret.txt", "/assets/.hidden"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert "outside assets" not in response.text


def test_the_panel_claims_only_its_paths(client: TestClient) -> None:
    assert client.get("/api/v1/ping").json() == {"pong": True}
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/some/page").status_code == 404  # hash routing: only / is the page


def test_without_a_build_the_index_is_a_503_that_says_how_to_build(tmp_path: Path) -> None:
    with TestClient(_app(tmp_path / "no-dist")) as client:
        for path in ("/", "/assets/index-abc123.js"):
            response = client.get(path)
            assert response.status_code == 503, path
            body = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert "panel not built" in body["detail"]
            assert "npm run build" in body["detail"] and "make run" in body["detail"]
        # the API is unaffected
        assert client.get("/api/v1/ping").status_code == 200


def test_the_daemon_app_serves_the_panel_beside_the_api(tmp_path: Path) -> None:
    from tgfleet.app import create_app
    from tgfleet.settings import load_settings

    settings = load_settings(env_file=None, data_dir=tmp_path / "data", sandbox_enabled=False)
    # no lifespan: the panel's routes need no runtime, and the API's answer 401/503 without one
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    index = client.get("/")
    assert index.status_code == (200 if (REPO_DIST / "index.html").is_file() else 503)
    assert index.headers["content-security-policy"].startswith("default-src 'self'")
    # the API's own 404 is untouched by the panel
    missing = client.get("/api/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


# Hosts a built page may name without asking them: XML namespaces and spec URLs in comments.
_INERT_HOSTS = {"www.w3.org"}


def test_the_real_build_asks_no_other_host() -> None:
    index = REPO_DIST / "index.html"
    if not index.is_file():
        pytest.fail(f"{index} is missing: build the panel first (make test does: npm run build)")
    offenders: dict[str, set[str]] = {}
    for path in [index, *sorted((REPO_DIST / "assets").iterdir())]:
        if path.suffix not in {".html", ".js", ".css", ".svg"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hosts = set(re.findall(r"""(?:https?:)?//([a-z0-9.-]+\.[a-z]{2,})[/"'`)\s]""", text, re.I))
        hosts -= _INERT_HOSTS
        if hosts:
            offenders[path.name] = hosts
    assert not offenders, f"the panel names other hosts (CDN, fonts?): {offenders}"


def test_the_daemon_serves_the_build_its_settings_name(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TGFLEET_PANEL_DIR", str(dist))  # as the Docker image sets it
    settings = load_settings(env_file=None)
    assert settings.panel_dir == dist
    # no lifespan: serving / needs no runtime
    page = TestClient(create_app(settings)).get("/")
    assert page.status_code == 200 and 'id="app"' in page.text
