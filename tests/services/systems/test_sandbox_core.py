"""The sandbox's shared machinery: routing, request log, idempotency, faults, the server.

A tiny ``echo`` system is registered for these tests only (and removed after), so
the behaviour of the core is tested apart from the four simulated systems.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.errors import InputError
from services.sandbox import core
from services.sandbox.core import Sandbox, SandboxRequest, SystemApp, json_response
from services.sandbox.server import start_server

MASTER = Path(__file__).resolve().parents[3] / "sample_data" / "master"


class EchoApp(SystemApp):
    name = "echo"

    def __init__(self, sandbox: Sandbox, master: dict) -> None:
        super().__init__(sandbox, master)
        self.made = 0
        self.route("POST", r"/things", self.create)
        self.route("GET", r"/things/(?P<id>\d+)", self.read)

    def create(self, req: SandboxRequest) -> httpx.Response:
        self.made += 1
        self.remember("things", str(self.made))
        return json_response(201, {"id": str(self.made), "got": req.body})

    def read(self, req: SandboxRequest) -> httpx.Response:
        if int(req.group("id")) > self.made:
            return self.error(404, "NOT_FOUND", f"no thing {req.group('id')}")
        return json_response(200, {"id": req.group("id")})


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    (tmp_path / "echo.json").write_text("{}")
    for name in ("erp", "billing", "tax", "salesforce"):
        (tmp_path / f"{name}.json").write_text((MASTER / f"{name}.json").read_text())
    core._APPS["echo"] = EchoApp
    try:
        yield Sandbox(tmp_path, sleep=lambda s: None)
    finally:
        core._APPS.pop("echo", None)


def client(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url=sandbox.url("echo"))


def test_routes_and_the_request_log(sandbox: Sandbox) -> None:
    c = client(sandbox)
    assert c.post("/things", json={"a": 1}).json() == {"id": "1", "got": {"a": 1}}
    assert c.get("/things/1").status_code == 200
    assert c.get("/things/9").json() == {"code": "NOT_FOUND", "message": "no thing 9"}
    assert c.delete("/things/1").status_code == 405
    assert c.get("/nowhere").status_code == 404
    log = [(r.method, r.path, r.status) for r in sandbox.requests_to("echo")]
    assert log == [
        ("POST", "/echo/things", 201),
        ("GET", "/echo/things/1", 200),
        ("GET", "/echo/things/9", 404),
        ("DELETE", "/echo/things/1", 405),
        ("GET", "/echo/nowhere", 404),
    ]


def test_idempotency_same_key_same_body_answers_the_first_answer_again(sandbox: Sandbox) -> None:
    c = client(sandbox)
    headers = {"Idempotency-Key": "k-1"}
    first = c.post("/things", json={"a": 1}, headers=headers)
    again = c.post("/things", json={"a": 1}, headers=headers)
    assert first.json() == again.json() == {"id": "1", "got": {"a": 1}}
    assert sandbox.apps["echo"].made == 1  # type: ignore[attr-defined]
    assert [r.replayed for r in sandbox.requests] == [False, True]
    assert [r.idempotency_key for r in sandbox.requests] == ["k-1", "k-1"]


def test_idempotency_same_key_other_body_is_a_conflict_and_no_record(sandbox: Sandbox) -> None:
    c = client(sandbox)
    c.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k-1"})
    clash = c.post("/things", json={"a": 2}, headers={"Idempotency-Key": "k-1"})
    assert clash.status_code == 409 and clash.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert sandbox.apps["echo"].made == 1  # type: ignore[attr-defined]


def test_unreadable_request_body(sandbox: Sandbox) -> None:
    answer = client(sandbox).post("/things", content=b"{not json")
    assert answer.status_code == 400 and answer.json()["code"] == "INVALID_JSON"


def test_faults_switch_on_and_off_and_bad_faults_are_refused(sandbox: Sandbox) -> None:
    c = httpx.Client(transport=sandbox.transport(), base_url=Sandbox.BASE_URL)
    assert c.post("/_sandbox/faults", json={"rate_limit": {"echo": 2}}).status_code == 200
    echo = client(sandbox)
    limited = echo.get("/things/0")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert echo.get("/things/0").status_code == 429
    assert echo.get("/things/0").status_code == 200  # the two are used up
    c.post("/_sandbox/faults", json={"unavailable": ["echo"]})
    assert echo.get("/things/0").status_code == 503
    c.post("/_sandbox/faults", json={"unavailable": []})
    assert echo.get("/things/0").status_code == 200
    bad = c.post("/_sandbox/faults", json={"meteor": True})
    assert bad.status_code == 400 and "unknown fault 'meteor'" in bad.json()["error"]
    wrong_type = c.post("/_sandbox/faults", json={"tax_outage": "yes"})
    assert wrong_type.status_code == 400
    assert c.post("/_sandbox/faults", content=b"[1]").status_code == 400
    assert c.get("/_sandbox/faults").json()["faults"]["unavailable"] == []


def test_slow_answers_wait_through_the_injected_sleep(sandbox: Sandbox) -> None:
    waited: list[float] = []
    sandbox.sleep = waited.append
    sandbox.faults.update({"slow_ms": 100})
    client(sandbox).get("/things/0")
    assert waited == [0.1]


def test_records_and_reset(sandbox: Sandbox) -> None:
    c = client(sandbox)
    c.post("/things", json={})
    control = httpx.Client(transport=sandbox.transport(), base_url=Sandbox.BASE_URL)
    assert control.get("/_sandbox/records").json()["echo"]["created"] == {"things": ["1"]}
    control.post("/_sandbox/reset")
    assert control.get("/_sandbox/records").json()["echo"]["created"] == {}
    assert (
        control.get("/_sandbox/requests").json()["requests"] == []
    )  # control calls are not logged


def test_missing_master_data_is_a_clear_error(tmp_path: Path, sandbox: Sandbox) -> None:
    with pytest.raises(InputError) as err:
        Sandbox(tmp_path / "nowhere")
    assert "master data" in str(err.value) and "missing" in str(err.value)


def test_the_server_answers_over_a_real_socket(sandbox: Sandbox) -> None:
    server, thread = start_server(sandbox)
    try:
        with httpx.Client(base_url=server.url) as http:
            made = http.post("/echo/things", json={"x": 1}, headers={"Idempotency-Key": "s-1"})
            assert made.status_code == 201 and made.json()["id"] == "1"
            again = http.post("/echo/things", json={"x": 1}, headers={"Idempotency-Key": "s-1"})
            assert again.json() == made.json()
            assert http.get("/_sandbox/faults").json()["faults"]["tax_outage"] is False
            listed = http.get("/_sandbox/requests").json()["requests"]
            assert [(r["path"], r["idempotency_key"], r["status"]) for r in listed[:2]] == [
                ("/echo/things", "s-1", 201),
                ("/echo/things", "s-1", 201),
            ]
            assert http.get("/nope/x").status_code == 404
    finally:
        server.shutdown()
        thread.join(timeout=5)
