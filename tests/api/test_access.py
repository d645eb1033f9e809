"""Sign-in, sessions with CSRF, API tokens: against the real app and store."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tgfleet.api.access import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Access,
    SignInLimiter,
    token_hash,
)

from .conftest import ADMIN_PASSWORD, sign_in


def _assert_problem(response_json: dict[str, object], status: int) -> None:
    assert response_json["status"] == status
    assert str(response_json["type"]).startswith("https://")
    assert response_json["title"] and response_json["detail"]


def test_unauthenticated_api_routes_answer_401_problem(anon: TestClient) -> None:
    for path in ("/api/v1/auth/me", "/api/v1/pool/stats", "/api/v1/pool/connections"):
        response = anon.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        _assert_problem(response.json(), 401)
    assert anon.get("/healthz").status_code == 200  # health stays open


def test_sign_in_sets_httponly_strict_session_cookie_and_me_answers(anon: TestClient) -> None:
    response = anon.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
    body = response.json()
    assert body["user"]["username"] == "admin"
    assert anon.cookies[CSRF_COOKIE] == body["csrf_token"]
    # the store keeps only a hash of the session token
    assert ADMIN_PASSWORD not in response.text
    me = anon.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "admin"


def test_wrong_password_is_401_and_names_no_detail_about_which_part(anon: TestClient) -> None:
    response = anon.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert response.status_code == 401
    _assert_problem(response.json(), 401)
    assert response.json()["detail"] == "wrong username or password"
    unknown = anon.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == response.json()["detail"]
    assert anon.get("/api/v1/auth/me").status_code == 401


def test_failed_sign_ins_are_rate_limited_per_username_and_client(anon: TestClient) -> None:
    app_access: Access = anon.app.state.access  # type: ignore[attr-defined]
    kept = app_access.limiter
    app_access.limiter = SignInLimiter(max_failures=3, window=60)
    try:
        for _ in range(3):
            wrong = {"username": "admin", "password": "guess"}
            assert anon.post("/api/v1/auth/login", json=wrong).status_code == 401
        # locked out now, even with the right password
        right = {"username": "admin", "password": ADMIN_PASSWORD}
        locked = anon.post("/api/v1/auth/login", json=right)
        assert locked.status_code == 429
        _assert_problem(locked.json(), 429)
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        # another username from the same client is not affected
        other = anon.post("/api/v1/auth/login", json={"username": "ops", "password": "x"})
        assert other.status_code == 401
    finally:
        app_access.limiter = kept


def test_limiter_forgets_failures_after_the_window() -> None:
    now = [1000.0]
    limiter = SignInLimiter(max_failures=2, window=10, clock=lambda: now[0])
    limiter.failed("u", "c")
    limiter.failed("u", "c")
    try:
        limiter.check("u", "c")
    except Exception as exc:
        assert type(exc).__name__ == "TooManyAttempts"
        assert 9 <= exc.retry_after <= 10  # type: ignore[attr-defined]
    else:
        raise AssertionError("a locked pair was let through")
    limiter.check("u", "other-client")
    now[0] += 10.5
    limiter.check("u", "c")  # the window passed: no error


def test_csrf_is_required_on_unsafe_methods_with_a_session(anon: TestClient) -> None:
    csrf = sign_in(anon)
    url = "/api/v1/accounts/+15550000003/close-connections"
    refused = anon.post(url)
    assert refused.status_code == 403
    _assert_problem(refused.json(), 403)
    assert "X-CSRF-Token" in refused.json()["detail"]
    assert anon.post(url, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    accepted = anon.post(url, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200, accepted.text
    # safe methods need no header
    assert anon.get("/api/v1/pool/stats").status_code == 200


def test_logout_ends_the_session(anon: TestClient) -> None:
    csrf = sign_in(anon)
    session = anon.cookies[SESSION_COOKIE]
    assert anon.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert anon.get("/api/v1/auth/me").status_code == 401
    # the old cookie, replayed, is dead too
    anon.cookies.set(SESSION_COOKIE, session)
    assert anon.get("/api/v1/auth/me").status_code == 401


def test_bearer_token_works_without_csrf_and_stops_after_revoke(anon: TestClient) -> None:
    access: Access = anon.app.state.access  # type: ignore[attr-defined]
    record, plain = anon.portal.call(access.create_api_token, "ci")  # type: ignore[union-attr]
    assert plain.startswith("tgf_") and record.name == "ci" and not record.revoked
    headers = {"Authorization": f"Bearer {plain}"}
    assert anon.get("/api/v1/auth/me", headers=headers).json()["username"] == "admin"
    # an unsafe method with a bearer token needs no CSRF header
    url = "/api/v1/accounts/+15550000003/close-connections"
    assert anon.post(url, headers=headers).status_code == 200
    # only the hash is stored
    tokens = anon.portal.call(access.users.list_tokens)  # type: ignore[union-attr]
    assert [t.name for t in tokens if not t.revoked] == ["ci"]
    row = anon.portal.call(  # type: ignore[union-attr]
        access.users.user_for_token, token_hash(plain)
    )
    assert row is not None
    revoked = anon.portal.call(access.revoke_api_token, "ci")  # type: ignore[union-attr]
    assert revoked is not None and revoked.revoked
    after = anon.get("/api/v1/auth/me", headers=headers)
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    bad_scheme = anon.get("/api/v1/auth/me", headers={"Authorization": f"Basic {plain}"})
    assert bad_scheme.status_code == 401


def test_store_keeps_only_hashes_of_session_tokens_and_passwords(anon: TestClient) -> None:
    sign_in(anon)
    session = anon.cookies[SESSION_COOKIE]
    access: Access = anon.app.state.access  # type: ignore[attr-defined]
    db = access.users._db
    sessions = anon.portal.call(db.fetchall, "SELECT token_hash FROM user_sessions")  # type: ignore[union-attr]
    stored = {row["token_hash"] for row in sessions}
    assert token_hash(session) in stored and session not in stored
    users = anon.portal.call(db.fetchall, "SELECT password_hash FROM users")  # type: ignore[union-attr]
    assert all(row["password_hash"].startswith("$argon2id$") for row in users)
    assert all(ADMIN_PASSWORD not in row["password_hash"] for row in users)
