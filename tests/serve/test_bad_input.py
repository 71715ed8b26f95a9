"""Bodies over the size limit, on a real socket: 413 before the body is read, never a 500.

Every other refusal (each bad record, malformed JSON, the batch limit, content type, method,
unknown path) is a unit test of the app in-process: tests/unit/test_serve_validation.py and
tests/unit/test_serve_app.py. What only a socket shows is the race this file tests: the
server answers and closes while the client is still writing.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import urllib.parse
from typing import Any

import pytest

from tests.serve.conftest import RunningServer


def _post_refusable(server: RunningServer, body: bytes, *, chunked: bool) -> tuple[int, Any]:
    """POST `body` as a careful client does when the server may refuse it before reading it.

    The server answers 413 as soon as the declared (or streamed) size passes the limit and
    closes the connection; a client that keeps writing gets a broken pipe instead of the
    answer. So: wait briefly for an early answer, stop writing once one is waiting or the
    server has closed, then read the answer.
    """
    address = urllib.parse.urlsplit(server.url)
    head = [
        "POST /predict HTTP/1.1", f"Host: {address.netloc}", "Connection: close",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}",
    ]  # fmt: skip
    step = 64 * 1024
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        frames = [body[start : start + step] for start in range(0, len(body), step)]
        wait = 1.0
        try:
            for frame in frames:
                if select.select([sock], [], [], wait)[0]:
                    break
                wait = 0.01
                sock.sendall(b"%x\r\n%s\r\n" % (len(frame), frame) if chunked else frame)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("chunked", [False, True], ids=["declared-length", "chunked"])
def test_bodies_over_the_limit(server: RunningServer, chunked: bool) -> None:
    body = json.dumps([{"padding": "x" * 1000}] * 2100).encode()
    status, reply = _post_refusable(server, body, chunked=chunked)
    assert status == 413
    assert "exceeds 2000000 bytes" in reply["error"]
    declared = "" if chunked else f" of {len(body)} bytes"
    assert reply["error"].endswith(f"request body{declared} exceeds 2000000 bytes"), reply
    assert server.get("/health").status == 200
    assert 'status="500"' not in server.get("/metrics").body.decode()
