"""Every class of bad input gets a 4xx naming the record and field; never a 500."""

from __future__ import annotations

import http.client
import json
import select
import socket
import urllib.parse
from typing import Any

import pytest

from tests.serve.conftest import Server, example_record, input_types


def _post_raw(server: Server, body: bytes, content_type: str = "application/json") -> Any:
    return server.request("POST", "/predict", body, {"Content-Type": content_type})


def _first(signature: dict[str, Any], kind: str) -> str:
    name: str = next(f["name"] for f in signature["inputs"] if f["type"] == kind)
    return name


def _mutated(signature: dict[str, Any], change: str) -> Any:
    record = example_record(signature)
    if change == "missing":
        del record[signature["inputs"][0]["name"]]
    elif change == "extra":
        record["favourite_colour"] = "blue"
    elif change == "number_as_string":
        record[_first(signature, "number")] = "forty"
    elif change == "boolean_number":
        record[_first(signature, "number")] = True
    elif change == "string_as_number":
        record[_first(signature, "string")] = 7
    elif change == "huge_number":
        record[_first(signature, "number")] = 1e39
    elif change == "huge_integer":
        record[_first(signature, "number")] = 10**400
    elif change == "not_an_object":
        return [record, "oops"]
    return [example_record(signature), record]


# (change, the input type it needs, status, needle); {field} is the input it breaks.
BadRecord = tuple[str, str | None, int, str]
BAD_RECORDS: list[BadRecord] = [
    ("missing", None, 422, "record 1: missing field(s) {field}"),
    ("extra", None, 422, "record 1: unknown field(s) favourite_colour"),
    ("number_as_string", "number", 422, "record 1: field {field} must be a number or null"),
    ("boolean_number", "number", 422, "record 1: field {field} must be a number or null"),
    ("string_as_number", "string", 422, "record 1: field {field} must be a string or null"),
    ("huge_number", "number", 422, "record 1: field {field} is out of range"),
    ("huge_integer", "number", 422, "record 1: field {field} is out of range"),
    ("not_an_object", None, 422, "record 1: must be a JSON object, got a string"),
]
# Only the cases the team's model has an input for (a model of numbers has no category).
APPLICABLE = [case for case in BAD_RECORDS if case[1] is None or case[1] in input_types()]


@pytest.mark.parametrize("case", APPLICABLE, ids=[case[0] for case in APPLICABLE])
def test_bad_records_are_refused_by_name(
    server: Server, signature: dict[str, Any], case: BadRecord
) -> None:
    change, needs, status, needle = case
    field = _first(signature, needs) if needs else signature["inputs"][0]["name"]
    reply = server.post_json("/predict", _mutated(signature, change))
    assert reply.status == status
    assert needle.format(field=field) in reply.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"any_field": NaN}', 422, "NaN is not a number JSON allows"),
        (b'[{"any_field": Infinity}]', 422, "Infinity is not a number JSON allows"),
        (b"[]", 422, "empty list"),
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b"42", 422, "got the number 42"),
        (b'"a string"', 422, "got a string"),
        (b"", 400, "not valid JSON"),
    ],
)
def test_malformed_bodies(server: Server, body: bytes, status: int, needle: str) -> None:
    reply = _post_raw(server, body)
    assert reply.status == status
    assert needle in reply.json()["error"]


def test_batches_over_the_limit(server: Server, signature: dict[str, Any]) -> None:
    reply = server.post_json("/predict", [example_record(signature)] * 1001)
    assert reply.status == 413
    assert "batch of 1001 records exceeds the limit of 1000" in reply.json()["error"]


def _post_refusable(server: Server, body: bytes, *, chunked: bool) -> tuple[int, Any]:
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
def test_bodies_over_the_limit(server: Server, chunked: bool) -> None:
    body = json.dumps([{"padding": "x" * 1000}] * 2100).encode()
    status, reply = _post_refusable(server, body, chunked=chunked)
    assert status == 413
    assert "exceeds 2000000 bytes" in reply["error"]
    declared = "" if chunked else f" of {len(body)} bytes"
    assert reply["error"].endswith(f"request body{declared} exceeds 2000000 bytes"), reply
    assert server.get("/health").status == 200


def test_wrong_content_type(server: Server, signature: dict[str, Any]) -> None:
    reply = _post_raw(server, json.dumps(example_record(signature)).encode(), "text/csv")
    assert reply.status == 415


def test_wrong_method_and_unknown_path(server: Server) -> None:
    assert server.get("/predict").status == 405
    reply = server.get("/nowhere")
    assert reply.status == 404
    assert "error" in reply.json()


def test_the_server_survives_and_never_answered_500(server: Server) -> None:
    assert server.get("/health").status == 200
    metrics = server.get("/metrics").body.decode()
    assert 'status="500"' not in metrics
