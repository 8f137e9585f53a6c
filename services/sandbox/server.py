"""``q2c sandbox serve``: the sandbox as a real HTTP server on 127.0.0.1.

Each system is under its own path: ``http://127.0.0.1:PORT/erp/...``,
``/billing/...``, ``/tax/...``, ``/salesforce/...``; control endpoints under
``/_sandbox/``. Requests are turned into ``httpx.Request`` objects and answered by
the same :class:`~services.sandbox.core.Sandbox` code as in-process, so the two
ways cannot drift apart.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from services.sandbox.core import Sandbox

__all__ = ["SandboxServer", "start_server"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
}


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY each answer waits
    # for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = httpx.Request(
            self.command,
            f"http://127.0.0.1{self.path}",
            headers=[(k, v) for k, v in self.headers.items() if k.lower() != "host"],
            content=body,
        )
        try:
            response = self.server.sandbox.handle(request)
        except httpx.TimeoutException:
            self.close_connection = True  # the timeout_after_commit fault: no answer at all
            return
        content = response.read()
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the sandbox's own request log (GET /_sandbox/requests) has it all."""


def start_server(sandbox: Sandbox, port: int = 0) -> tuple[SandboxServer, threading.Thread]:
    """Serve ``sandbox`` on 127.0.0.1:``port`` (0: any free port) in a daemon thread.

    Example:
        >>> server, _ = start_server(Sandbox(Path("sample_data/master")))
        >>> httpx.get(server.url + "/_sandbox/faults").json()
        >>> server.shutdown()
    """
    server = SandboxServer(port, sandbox)
    thread = threading.Thread(target=server.serve_forever, name="q2c-sandbox", daemon=True)
    thread.start()
    return server, thread
