"""Real servers on 127.0.0.1 for end-to-end tests: Limen via `limen serve`, ASGI apps via uvicorn threads."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

LIMEN = str(Path(sys.executable).with_name("limen"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"server exited early with {process.returncode}: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout}s")


@contextmanager
def limen_server(env: dict[str, str], port: int, *, workers: int = 1) -> Iterator[str]:
    """`limen serve` in a subprocess; yields its base URL and stops it afterwards."""
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("LIMEN_")}, **env}
    process = subprocess.Popen(
        [LIMEN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/.well-known/openid-configuration", process=process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


@contextmanager
def asgi_server(app: Any, port: int, *, lifespan: str = "off") -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
