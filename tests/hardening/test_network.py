"""No network at run time: answering, retrieving and loading the embedding model open no socket to
another machine, and the model hub client is switched offline unless RAG_ALLOW_NETWORK=1.
(test_serving.py checks the same for the running app, start-up included.)"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

import pytest

from embeddings.model import Embedder, ModelSpec
from rag import answer, get_index, retrieve


def _outside(address: Any) -> bool:
    if not isinstance(address, tuple):
        return False  # a Unix socket
    host = str(address[0])
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return True


@pytest.fixture
def outbound(monkeypatch) -> list[Any]:
    """Addresses outside the machine that the code tried to connect to (each attempt is refused)."""
    attempts: list[Any] = []

    def guard(function, position):
        def guarded(*args, **kwargs):
            if _outside(args[position]):
                attempts.append(args[position])
                raise OSError("outbound connection refused by the test")
            return function(*args, **kwargs)

        return guarded

    monkeypatch.setattr(socket.socket, "connect", guard(socket.socket.connect, 1))
    monkeypatch.setattr(socket.socket, "connect_ex", guard(socket.socket.connect_ex, 1))
    monkeypatch.setattr(socket, "create_connection", guard(socket.create_connection, 0))
    return attempts


def test_the_guard_sees_an_outbound_connection(outbound):
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with socket.socket() as sock, pytest.raises(OSError):
        sock.connect(("huggingface.co", 443))
    assert outbound == [("192.0.2.1", 443), ("huggingface.co", 443)]


def test_answer_and_retrieve_open_no_outbound_socket(seed_index, outbound):
    earlier = answer("条例什么时候施行？")
    retrieve("What does Article 12 say?", k=3)
    answer("那违反了怎么处罚？", history=[earlier])
    assert outbound == []


def test_loading_a_fresh_embedder_opens_no_outbound_socket(seed_index, outbound):
    embedder = Embedder(ModelSpec())  # not the cached one: the model files are read again
    assert embedder.encode_queries(["条例什么时候施行？"]).shape == (1, embedder.dim)
    assert outbound == []


@pytest.mark.parametrize("allow, expected", [("", "1"), ("1", None)])
def test_the_hub_is_offline_unless_network_is_allowed(seed_index, monkeypatch, allow, expected):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_ALLOW_NETWORK", allow)
    get_index()
    assert [os.environ.get(n) for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")] == [expected, expected]
