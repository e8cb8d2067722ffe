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
    cut: bool = False  # 200 whose connection closes halfway through the body
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
                request, fault = api._receive(self.command, self.path, dict(self.headers), body)
                if fault and fault.hang:
                    time.sleep(fault.hang)
                if fault and fault.drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if api.latency:
                    time.sleep(api.latency)
                status, data, headers = api._respond(request, fault)
                if fault and fault.after:
                    time.sleep(fault.after)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data[: len(data) // 2] if fault and fault.cut else data)
                if fault and fault.cut:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._server = _Server(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def serve_forever_async(self, ready: Callable[[str], None]) -> None:
        """Serve the same routes, faults and latency from an asyncio server in this thread until the process
        ends, calling `ready(url)` once it listens. For benchmarks at a thousand connections, where a thread per
        connection spends more of the machine's CPU than the client being measured: a hosted API's own CPU is
        not on the client's machine."""
        import asyncio

        from aiohttp import web

        async def serve(incoming: web.Request) -> web.StreamResponse:
            request, fault = self._receive(
                incoming.method, incoming.path_qs, dict(incoming.headers), await incoming.read()
            )
            if fault and fault.hang:
                await asyncio.sleep(fault.hang)
            if fault and fault.drop:
                assert incoming.transport is not None
                incoming.transport.close()
                return web.Response()
            # The answer is made as the request arrives and sent when the latency has passed since then: the
            # server's own work, done in bursts on one loop, does not lengthen it.
            deadline = asyncio.get_running_loop().time() + self.latency
            status, data, headers = self._respond(request, fault)
            await asyncio.sleep(max(deadline - asyncio.get_running_loop().time(), 0.0))
            if fault and fault.after:
                await asyncio.sleep(fault.after)
            if fault and fault.cut:
                response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
                response.content_length = len(data)
                await response.prepare(incoming)
                await response.write(data[: len(data) // 2])
                assert incoming.transport is not None
                incoming.transport.close()
                return response
            return web.Response(status=status, body=data, headers={"Content-Type": "application/json", **headers})

        async def main() -> None:
            app = web.Application(client_max_size=64 * 2**20)
            app.router.add_route("*", "/{tail:.*}", serve)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            host, port = runner.addresses[0][:2]
            ready(f"http://{host}:{port}/v1")
            await asyncio.Event().wait()

        try:
            import uvloop
        except ImportError:
            asyncio.run(main())
        else:
            uvloop.run(main())

    def _receive(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Request, Fault | None]:
        request = Request(method, path, headers, body)
        with self._lock:
            self.log.append(request)
            return request, self._take_fault(path.split("?", 1)[0])

    def _respond(self, request: Request, fault: Fault | None) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, extra headers) of the answer to a request, once any hang and the latency are over."""
        if fault and fault.malformed:
            return 200, b"{not json", {}
        if fault and fault.status:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, _encode({"error": {"message": f"injected {fault.status}", "type": "fault"}}), headers
        path = request.path.split("?", 1)[0]
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if method == request.method and match:
                request.match = match
                status, payload = handler(request)
                return status, _encode(payload), {}
        return 404, _encode({"error": {"message": f"no route for {request.method} {path}"}}), {}

    def _take_fault(self, path: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.path is None or fault.path in path:
                del self.faults[index]
                return fault
        return None


def _encode(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()
