"""The sandbox: Salesforce, ERP, billing and tax simulated behind their wire formats.

One :class:`Sandbox` holds the state of all four systems, loaded from the master
data in ``sample_data/master/``, and answers ``httpx.Request`` objects:

- ``/{system}/...`` goes to that system's :class:`SystemApp` (registered with
  :func:`register_app`; the built-in apps register the same way);
- ``GET /_sandbox/requests`` lists every request received (method, path,
  idempotency key, status answered); ``GET /_sandbox/records`` what each system
  holds; ``GET|POST /_sandbox/faults`` reads or switches failure modes.

Idempotency is enforced here for every app: a POST/PATCH with the app's
idempotency header and the same body gets the first answer again; the same key
with another body gets a conflict in the system's error shape, and no second record.

It runs in-process (:meth:`Sandbox.transport` for httpx, a ``requests`` adapter
for simple-salesforce) or as a real server (:mod:`services.sandbox.server`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from services.errors import InputError

__all__ = [
    "FAULTS",
    "Faults",
    "Handler",
    "RequestRecord",
    "Sandbox",
    "SandboxRequest",
    "SystemApp",
    "json_response",
    "register_app",
]

Handler = Callable[["SandboxRequest"], httpx.Response]

# Failure modes the sample data shows, switchable at run time (POST /_sandbox/faults).
FAULTS: dict[str, str] = {
    "tax_outage": "tax answers 503 to every call (true/false)",
    "closed_period": "ERP refuses postings dated in this period, e.g. 'Nov 2026' (null: none)",
    "unknown_item": "ERP and billing do not know this product code, e.g. 'ADDON-X' (null: none)",
    "rate_limit": "the next N calls to a system answer 429 with Retry-After: {system: N}",
    "retry_after_seconds": "the Retry-After value sent with rate-limit answers",
    "slow_ms": "added latency per call, milliseconds: {system: ms}, or a number for every system",
    "unavailable": "systems answering 503: [system, ...]",
    "timeout_after_commit": "the next N writes to a system are done, then time out: {system: N}",
}


@dataclass(slots=True)
class Faults:
    """The current failure modes; all off by default."""

    tax_outage: bool = False
    closed_period: str | None = None
    unknown_item: str | None = None
    rate_limit: dict[str, int] = field(default_factory=dict)
    retry_after_seconds: int = 2
    slow_ms: dict[str, int] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)
    timeout_after_commit: dict[str, int] = field(default_factory=dict)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (the body of POST /_sandbox/faults), checking each value."""
        unknown = sorted(set(changes) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(FAULTS))}")
        for name, value in changes.items():
            if name == "slow_ms" and isinstance(value, int | float):
                value = {"*": int(value)}
            expected = {
                "tax_outage": bool,
                "closed_period": (str, type(None)),
                "unknown_item": (str, type(None)),
                "rate_limit": dict,
                "retry_after_seconds": int,
                "slow_ms": dict,
                "unavailable": list,
                "timeout_after_commit": dict,
            }[name]
            if not isinstance(value, expected):  # type: ignore[arg-type]
                raise ValueError(f"fault {name!r}: {FAULTS[name]}")
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class RequestRecord:
    """One request the sandbox received, as ``GET /_sandbox/requests`` lists it."""

    at: str
    system: str
    method: str
    path: str
    idempotency_key: str | None
    status: int
    replayed: bool = False  # answered from the idempotency store


@dataclass(slots=True)
class SandboxRequest:
    """What an app handler sees: path relative to the app, query, decoded body."""

    method: str
    path: str
    query: dict[str, str]
    headers: httpx.Headers
    body: Any
    raw: bytes
    match: re.Match[str] | None = None

    def group(self, name: str) -> str:
        assert self.match is not None
        return self.match.group(name)


def json_response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A JSON answer (``body`` None: no content)."""
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


class SystemApp:
    """One simulated system. Subclasses set ``name``, fill ``routes`` and shape errors.

    ``routes`` are ``(method, regex, handler)``; the regex is matched against the
    path after ``/{name}`` and its named groups are available as ``req.group(...)``.
    """

    name: ClassVar[str] = ""
    idempotency_header: ClassVar[str | None] = "Idempotency-Key"

    def __init__(self, sandbox: Sandbox, master: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.data = copy.deepcopy(master)
        self.created: dict[str, list[str]] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"/?\Z"), handler))

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        """An error answer in this system's shape."""
        return json_response(status, {"code": code, "message": message})

    def records(self) -> dict[str, Any]:
        """What this system holds: a count per collection and the ids created here."""
        counts = {k: len(v) for k, v in self.data.items() if isinstance(v, list)}
        return {"counts": counts, "created": self.created}

    def remember(self, collection: str, record_id: str) -> None:
        self.created.setdefault(collection, []).append(record_id)

    def dispatch(self, req: SandboxRequest) -> httpx.Response:
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(req.path)
            if match is None:
                continue
            allowed = True
            if method == req.method:
                req.match = match
                return handler(req)
        if allowed:
            return self.error(405, "METHOD_NOT_ALLOWED", f"{req.method} not allowed on {req.path}")
        return self.error(404, "NOT_FOUND", f"no resource at {req.path}")


_APPS: dict[str, type[SystemApp]] = {}


def register_app(cls: type[SystemApp]) -> type[SystemApp]:
    """Class decorator: make ``cls`` the sandbox's simulation of ``cls.name``."""
    _APPS[cls.name] = cls
    return cls


def _load_builtin_apps() -> None:
    # Imported for their @register_app side effect; each module is one system.
    import importlib

    for module in ("erp", "billing", "tax", "salesforce"):
        try:
            importlib.import_module(f"services.sandbox.{module}")
        except ModuleNotFoundError as exc:  # an app not written yet
            if exc.name != f"services.sandbox.{module}":
                raise


class Sandbox:
    """The four systems' state and the request log, shared by every client.

    Args:
        master_dir: folder with ``salesforce.json``, ``erp.json``, ``billing.json``,
            ``tax.json`` (``sample_data/master``).
        sleep: how ``slow_ms`` waits (tests pass a fake).

    Example:
        >>> sandbox = Sandbox(Path("sample_data/master"))
        >>> client = httpx.Client(transport=sandbox.transport(), base_url=SANDBOX_URL + "/erp")
    """

    BASE_URL: ClassVar[str] = "http://sandbox.q2c.invalid"

    def __init__(
        self,
        master_dir: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.master_dir = Path(master_dir)
        self.sleep = sleep
        self.now = now
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self._idem: dict[tuple[str, str], tuple[str, httpx.Response]] = {}
        self._lock = threading.RLock()
        _load_builtin_apps()
        self.apps: dict[str, SystemApp] = {}
        for name, cls in sorted(_APPS.items()):
            self.apps[name] = cls(self, self._master(name))

    def _master(self, name: str) -> dict[str, Any]:
        path = self.master_dir / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"sandbox master data {path} is missing (run q2c seed)") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"sandbox master data {path} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"sandbox master data {path}: expected a JSON object")
        return data

    # -- the in-process seams -------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering from this sandbox (no socket)."""
        return httpx.MockTransport(self.handle)

    def url(self, system: str) -> str:
        """The base URL of ``system`` when reached in-process."""
        return f"{self.BASE_URL}/{system}"

    # -- answering ------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (thread-safe: the server calls it from many threads)."""
        path = request.url.path
        raw = request.read()
        query = dict(request.url.params)
        if path.startswith("/_sandbox/"):
            return self._control(request.method, path, raw)
        system, _, rest = path.lstrip("/").partition("/")
        app = self.apps.get(system)
        if app is None:
            return json_response(404, {"error": f"no system {system!r} in the sandbox"})
        body: Any = None
        kind = request.headers.get("Content-Type", "")
        if raw and ("json" in kind or (not kind and raw.lstrip()[:1] in (b"{", b"["))):
            try:
                body = json.loads(raw)
            except ValueError:
                body = _UNREADABLE
        # Other bodies (an OAuth token request's form) reach the app as ``raw`` only.
        req = SandboxRequest(request.method, "/" + rest, query, request.headers, body, raw)
        key = request.headers.get(app.idempotency_header) if app.idempotency_header else None
        with self._lock:
            response, replayed = self._answer(app, req, key)
            self.requests.append(
                RequestRecord(
                    at=self.now().isoformat(timespec="milliseconds"),
                    system=system,
                    method=request.method,
                    path=path,
                    idempotency_key=key,
                    status=response.status_code,
                    replayed=replayed,
                )
            )
        lost = self.faults.timeout_after_commit.get(system, 0)
        if lost > 0 and request.method in ("POST", "PUT", "PATCH") and response.status_code < 300:
            # The write is done (and remembered for its idempotency key); the answer is lost.
            self.faults.timeout_after_commit[system] = lost - 1
            raise httpx.ReadTimeout(
                "the sandbox committed the write, then timed out", request=request
            )
        slow = self.faults.slow_ms
        delay = slow.get(system, slow.get("*", 0))
        if delay:
            self.sleep(delay / 1000)
        return response

    def _answer(
        self, app: SystemApp, req: SandboxRequest, key: str | None
    ) -> tuple[httpx.Response, bool]:
        faults = self.faults
        if app.name in faults.unavailable or (app.name == "tax" and faults.tax_outage):
            return app.error(503, "SERVICE_UNAVAILABLE", f"{app.name} is unavailable"), False
        left = faults.rate_limit.get(app.name, 0)
        if left > 0:
            faults.rate_limit[app.name] = left - 1
            response = app.error(429, "REQUEST_LIMIT_EXCEEDED", "too many requests")
            response.headers["Retry-After"] = str(faults.retry_after_seconds)
            return response, False
        if req.body is _UNREADABLE:
            return app.error(400, "INVALID_JSON", "the request body is not valid JSON"), False
        if key and req.method in ("POST", "PATCH", "PUT"):
            digest = hashlib.sha256(req.method.encode() + req.path.encode() + req.raw).hexdigest()
            seen = self._idem.get((app.name, key))
            if seen is not None:
                if seen[0] == digest:
                    return _copy(seen[1]), True
                return (
                    app.error(
                        409,
                        "IDEMPOTENCY_KEY_REUSED",
                        f"idempotency key {key!r} was used before with a different request",
                    ),
                    False,
                )
            response = app.dispatch(req)
            if response.status_code < 500 and response.status_code != 429:
                response.read()
                self._idem[(app.name, key)] = (digest, _copy(response))
            return response, False
        return app.dispatch(req), False

    def _control(self, method: str, path: str, raw: bytes) -> httpx.Response:
        with self._lock:
            if path == "/_sandbox/requests" and method == "GET":
                return json_response(200, {"requests": [asdict(r) for r in self.requests]})
            if path == "/_sandbox/records" and method == "GET":
                return json_response(200, {n: a.records() for n, a in self.apps.items()})
            if path == "/_sandbox/faults" and method == "GET":
                return json_response(200, {"faults": self.faults.to_dict(), "known": FAULTS})
            if path == "/_sandbox/faults" and method == "POST":
                try:
                    changes = json.loads(raw or b"{}")
                    if not isinstance(changes, dict):
                        raise ValueError("send a JSON object of fault names to values")
                    self.faults.update(changes)
                except ValueError as exc:
                    return json_response(400, {"error": str(exc)})
                return json_response(200, {"faults": self.faults.to_dict()})
            if path == "/_sandbox/reset" and method == "POST":
                self.reset()
                return json_response(200, {"reset": True})
        return json_response(404, {"error": f"no sandbox control {method} {path}"})

    def reset(self) -> None:
        """Back to the master data: no records created, no faults, empty request log."""
        with self._lock:
            self.faults = Faults()
            self.requests.clear()
            self._idem.clear()
            for name, cls in sorted(_APPS.items()):
                self.apps[name] = cls(self, self._master(name))

    def requests_to(self, system: str) -> Iterator[RequestRecord]:
        """The requests ``system`` received, oldest first."""
        return (r for r in list(self.requests) if r.system == system)


_UNREADABLE: Any = object()


def _copy(response: httpx.Response) -> httpx.Response:
    return httpx.Response(
        response.status_code, headers=response.headers.copy(), content=response.content
    )
