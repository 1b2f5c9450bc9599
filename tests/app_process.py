"""Subprocesses on free loopback ports for the end-to-end, load and replica tests: the app, a Milvus Lite server."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys\nfrom rag.cli import main\nsys.exit(main(sys.argv[1:]))"  # `rag …` in a subprocess: python -c CLI args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(command: list[str], env: dict[str, str], port: int, log: Path, startup_seconds: float) -> Iterator[str]:
    """Run `command` (which serves on `port`), wait until it answers HTTP, yield its URL, stop it."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers (a login page or 401): it is up
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the app did not start within {startup_seconds} s:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def milvus_lite_server(data_dir: Path, log: Path) -> Iterator[str]:
    """A Milvus Lite server (`python -m milvus_lite server`, the real engine) on loopback: yields its URI."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Milvus Lite server did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
