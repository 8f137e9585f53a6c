"""What every HTTP connector shares: retries, Retry-After, idempotency rules, auth, errors.

A minimal connector for a made-up system is driven through ``httpx.MockTransport``
handlers; a fake ``sleep`` records the waits, so nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.errors import (
    AuthError,
    BadResponse,
    RateLimited,
    RejectedError,
    SettingsError,
    TimedOut,
    Unavailable,
)
from services.settings import load_settings
from services.systems.auth import OAuth2ClientCredentials
from services.systems.http import HttpConnector, RetryPolicy, parse_retry_after
from services.systems.registry import require

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


class Demo(HttpConnector):
    """A system whose errors look like ``{"error": {"code", "message"}}``."""

    system = "demo"

    def error_of(self, response: httpx.Response, body: Any) -> tuple[str | None, str] | None:
        if response.status_code < 400:
            return None
        err = body.get("error", {}) if isinstance(body, dict) else {}
        return err.get("code"), err.get("message") or f"HTTP {response.status_code}"


class Script:
    """A handler answering from a list, recording every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> tuple[Demo, list[float]]:
    waits: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://demo.test/api")
    return Demo(client, sleep=waits.append, now=lambda: NOW, **kw), waits


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True})


def test_429_without_retry_after_backs_off_exponentially_then_succeeds() -> None:
    script = Script(httpx.Response(429), httpx.Response(429), httpx.Response(429), ok())
    demo, waits = make(script)
    assert demo.json_of(demo.call("read", "GET", "/things"), "read") == {"ok": True}
    assert waits == [0.5, 1.0, 2.0]
    assert len(script.seen) == 4
    assert demo.stats.retries == 3 and demo.stats.last_ok_at == NOW


def test_backoff_is_capped_and_the_last_error_says_everything() -> None:
    script = Script(httpx.Response(503, json={"error": {"code": "DOWN", "message": "maintenance"}}))
    demo, waits = make(script, retry=RetryPolicy(attempts=6, base_seconds=1, cap_seconds=4))
    with pytest.raises(Unavailable) as err:
        demo.call("read", "GET", "/things")
    assert waits == [1, 2, 4, 4, 4]
    assert str(err.value) == "demo read: HTTP 503 DOWN: maintenance (retryable)"
    assert err.value.to_dict()["http_status"] == 503


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    later = "Thu, 26 Nov 2026 12:00:07 GMT"  # 7 s after NOW
    script = Script(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": later}),
        ok(),
    )
    demo, waits = make(script)
    demo.call("read", "GET", "/things")
    assert waits == [3.0, 7.0]


def test_a_retry_after_longer_than_we_wait_is_reported_at_once() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}), ok())
    demo, waits = make(script)
    with pytest.raises(RateLimited) as err:
        demo.call("read", "GET", "/things")
    assert waits == [] and len(script.seen) == 1
    assert err.value.retry_after == 3600 and err.value.retryable


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Thu, 26 Nov 2026 12:01:00 GMT", now=NOW) == 60.0
    assert parse_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", now=NOW) == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_post_without_idempotency_key_is_never_sent_twice() -> None:
    script = Script(httpx.Response(503), ok())
    demo, waits = make(script)
    with pytest.raises(Unavailable):
        demo.call("create", "POST", "/orders", json={"a": 1})
    assert len(script.seen) == 1 and waits == []


def test_a_post_with_an_idempotency_key_is_retried_with_the_same_key() -> None:
    script = Script(httpx.Response(503), httpx.Response(502), ok({"id": "7"}))
    demo, _ = make(script)
    response = demo.call("create", "POST", "/orders", json={"a": 1}, idempotency_key="k-1")
    assert response.json() == {"id": "7"}
    assert [r.headers["Idempotency-Key"] for r in script.seen] == ["k-1", "k-1", "k-1"]
    assert {r.content for r in script.seen} == {b'{"a":1}'}


def test_a_refused_connection_is_retried_even_for_a_post_it_never_reached() -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    script = Script(refused, refused, ok())
    demo, waits = make(script)
    demo.call("create", "POST", "/orders", json={})
    assert len(script.seen) == 3 and waits == [0.5, 1.0]


def test_a_connection_that_stays_refused_is_unavailable() -> None:
    demo, _ = make(Script(httpx.ConnectError("[Errno 111] Connection refused")))
    with pytest.raises(Unavailable) as err:
        demo.call("read", "GET", "/things")
    assert "cannot connect" in str(err.value) and "Connection refused" in str(err.value)


def test_read_timeout_is_retried_for_a_get_and_reported_when_it_persists() -> None:
    script = Script(httpx.ReadTimeout("timed out"))
    demo, waits = make(script)
    with pytest.raises(TimedOut) as err:
        demo.call("read", "GET", "/things")
    assert len(script.seen) == 4 and len(waits) == 3
    assert "no answer in time" in str(err.value)


def test_read_timeout_on_a_post_without_key_is_not_retried() -> None:
    script = Script(httpx.ReadTimeout("timed out"), ok())
    demo, _ = make(script)
    with pytest.raises(TimedOut):
        demo.call("create", "POST", "/orders", json={})
    assert len(script.seen) == 1


def test_html_error_page_instead_of_json() -> None:
    page = httpx.Response(
        502, content=b"<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/html"}
    )
    demo, _ = make(Script(page))
    with pytest.raises(Unavailable) as err:
        demo.call("read", "GET", "/things")
    assert "an HTML page" in str(err.value) and "HTTP 502" in str(err.value)


def test_html_page_with_200_is_a_bad_response() -> None:
    page = httpx.Response(200, content=b"<!doctype html><p>login</p>")
    demo, _ = make(Script(page))
    with pytest.raises(BadResponse) as err:
        demo.json_of(demo.call("read", "GET", "/things"), "read")
    assert "not JSON (an HTML page" in str(err.value)


def test_500_with_an_empty_body_is_not_retried_and_says_so() -> None:
    script = Script(httpx.Response(500))
    demo, waits = make(script)
    with pytest.raises(Unavailable) as err:
        demo.call("read", "GET", "/things")
    assert waits == [] and "HTTP 500" in str(err.value) and "not retryable" in str(err.value)


def test_malformed_json_from_the_system() -> None:
    demo, _ = make(Script(httpx.Response(200, content=b'{"items": [1, 2')))
    with pytest.raises(BadResponse):
        demo.json_of(demo.call("read", "GET", "/things"), "read")


def test_a_refusal_is_not_retried() -> None:
    body = {"error": {"code": "BAD_ITEM", "message": "no such item"}}
    script = Script(httpx.Response(400, json=body))
    demo, waits = make(script)
    with pytest.raises(RejectedError) as err:
        demo.call("create", "POST", "/orders", json={}, idempotency_key="k")
    assert err.value.code == "BAD_ITEM" and waits == [] and not err.value.retryable


class TokenServer:
    """Token endpoint plus an API that accepts only the latest token."""

    def __init__(self, *, api_accepts: bool = True) -> None:
        self.issued = 0
        self.api_accepts = api_accepts
        self.first_api_call = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.issued += 1
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            assert form["grant_type"] == "client_credentials"
            return httpx.Response(
                200, json={"access_token": f"tok-{self.issued}", "expires_in": 3600}
            )
        if self.first_api_call:  # the first token has expired on the server
            self.first_api_call = False
            return httpx.Response(
                401, json={"error": {"code": "INVALID_TOKEN", "message": "expired"}}
            )
        if not self.api_accepts:
            return httpx.Response(401, json={"error": {"code": "INVALID_TOKEN", "message": "no"}})
        assert request.headers["Authorization"] == f"Bearer tok-{self.issued}"
        return ok()


def oauth() -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        "https://demo.test/oauth/token",
        "client-123456",
        SecretStr("s3cret-value"),
        setting="Q2C_DEMO_",
    )


def test_an_expired_token_is_renewed_once() -> None:
    server = TokenServer()
    demo, _ = make(server, auth=oauth())
    demo.call("read", "GET", "/things")
    assert server.issued == 2


def test_a_401_that_stays_401_after_reauth_is_an_auth_error() -> None:
    server = TokenServer(api_accepts=False)
    demo, waits = make(server, auth=oauth())
    with pytest.raises(AuthError) as err:
        demo.call("read", "GET", "/things")
    assert server.issued == 2 and waits == []
    assert "after re-authenticating once" in str(err.value)


def test_refused_client_credentials_name_the_settings_not_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client"})

    demo, _ = make(handler, auth=oauth())
    with pytest.raises(AuthError) as err:
        demo.call("read", "GET", "/things")
    text = str(err.value)
    assert "Q2C_DEMO_CLIENT_ID" in text and "Q2C_DEMO_CLIENT_SECRET" in text
    assert "s3cret-value" not in text and err.value.code == "invalid_client"


def test_secrets_echoed_by_a_system_are_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok-abc", "expires_in": 3600})
        echo = {
            "error": {"code": "BAD", "message": f"bad header {request.headers['Authorization']}"}
        }
        return httpx.Response(400, json=echo)

    demo, _ = make(handler, auth=oauth())
    with pytest.raises(RejectedError) as err:
        demo.call("read", "GET", "/things")
    assert "tok-abc" not in str(err.value) and "Bearer ***" in str(err.value)
    assert "s3cret" not in oauth().describe() and "clie…3456" in oauth().describe()


def test_a_missing_credential_names_the_setting() -> None:
    settings = load_settings(systems="live")
    with pytest.raises(SettingsError) as err:
        require(settings, "erp_client_secret", "the ERP needs OAuth2 client credentials")
    assert str(err.value) == (
        "Q2C_ERP_CLIENT_SECRET is not set: the ERP needs OAuth2 client credentials"
    )


def test_only_method_path_status_and_time_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    demo, _ = make(Script(ok()))
    with caplog.at_level("INFO", logger="q2c.systems"):
        demo.call("read", "GET", "/things", params={"q": "x"})
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "demo GET /api/things -> 200" in logged
    assert "q=x" not in logged and json.dumps({"q": "x"}) not in logged


def test_a_read_only_post_is_retried_like_a_get() -> None:
    script = Script(httpx.Response(503), ok({"found": []}))
    demo, waits = make(script)
    demo.call("search", "POST", "/search", json={"q": "x"}, read_only=True)
    assert len(script.seen) == 2 and waits == [0.5]
    assert "Idempotency-Key" not in script.seen[1].headers
