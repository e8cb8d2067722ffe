"""A local stand-in for paid OpenAI-compatible cloud APIs: real HTTP on 127.0.0.1, spoken to by the real SDK.

The server is a route table (method, path regex) → handler, a log of every request, a fixed latency, and a
queue of faults to inject into the next requests (an HTTP status with optional Retry-After, a dropped
connection, a hang past the client's timeout, an answer held back after the work is done, a malformed body). Each API family registers its routes from its
own module (`fake_chat.py`, `fake_finetune.py`, ...) with `FakeAPI.route`.

Handlers take a `Request` and return `(status, body)` where body is a dict (sent as JSON) or bytes.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Fault:
    """What to do instead of answering one request."""

    status: int | None = None  # answer with this status and an error body
    retry_after: float | None = None
    drop: bool = False  # close the connection without answering
    hang: float = 0.0  # sleep this long first (longer than the client's timeout = a timeout)
    after: float = 0.0  # do the work, then sleep this long before answering (a client killed meanwhile never knows)
    malformed: bool = False  # 200 with a body that is not JSON
    path: str | None = None  # only for requests whose path contains this


Handler = Callable[[Request], tuple[int, Any]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The listen() backlog, read in the constructor: with the default of 5, clients opening many connections at
    # once see dropped SYNs and wait a second for the retransmission.
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        # Fault tests drop and time out connections on purpose; a client gone mid-request is expected here.
        pass


@dataclass
class FakeAPI:
    latency: float = 0.0
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    log: list[Request] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- configuration ---

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def requests(self, path_part: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.log if path_part in r.path]

    # --- life cycle ---

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeAPI:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes; without this, Nagle's algorithm holds the body ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                request = Request(self.command, self.path, dict(self.headers), body)
                with api._lock:
                    api.log.append(request)
                    fault = api._take_fault(path)
                if fault and fault.hang:
                    time.sleep(fault.hang)
                if fault and fault.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if api.latency:
                    time.sleep(api.latency)
                if fault and fault.malformed:
                    return self._send(200, b"{not json", {})
                if fault and fault.status:
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    return self._send(
                        fault.status, {"error": {"message": f"injected {fault.status}", "type": "fault"}}, headers
                    )
                for method, pattern, handler in api.routes:
                    match = pattern.match(path)
                    if method == self.command and match:
                        request.match = match
                        status, payload = handler(request)
                        if fault and fault.after:
                            time.sleep(fault.after)
                        return self._send(status, payload, {})
                self._send(404, {"error": {"message": f"no route for {self.command} {path}"}}, {})

            def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._server = _Server(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def _take_fault(self, path: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.path is None or fault.path in path:
                del self.faults[index]
                return fault
        return None
