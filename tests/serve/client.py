"""The client side of the serving API, shared by the tests and `bench/serve.py`.

One copy of what a client does (pick a port, send records, read replies) so the tests and the
benchmark cannot drift apart on how a request is made. Standard library, numpy and pandas only
(nothing of pytest), so the benchmark imports it as a plain module.
"""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.contract import MISSING_CATEGORY

if TYPE_CHECKING:
    import pandas as pd


def free_port() -> int:
    """A port nobody listens on now; the kernel picks it, so parallel runs do not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as the tests read it: status, raw body (JSON or not) and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A server's URL and the means to talk to it; 4xx and 5xx are replies, not exceptions."""

    url: str

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read(), dict(error.headers))

    def post_json(self, path: str, payload: Any) -> Reply:
        return self.request(
            "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )

    def get(self, path: str) -> Reply:
        return self.request("GET", path)


def example_record(signature: Mapping[str, Any]) -> dict[str, Any]:
    """A valid record for a `signature.json` document: each number at its training mean and
    each category the first one seen in training (null where the training data had none)."""
    reference: Mapping[str, Any] = signature.get("reference", {})
    record: dict[str, Any] = {}
    for field in signature["inputs"]:
        name = field["name"]
        if field["type"] == "number":
            record[name] = reference.get(name, {}).get("mean")
        else:
            record[name] = (field.get("categories") or [None])[0]
    return record


def client_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client would send them: missing numbers and categories as null, numpy
    scalars as the JSON numbers and strings they stand for."""
    records: list[dict[str, Any]] = []
    for row in frame.astype(object).to_dict(orient="records"):
        record: dict[str, Any] = {}
        for key, value in row.items():
            plain = value.item() if isinstance(value, np.generic) else value
            missing = plain == MISSING_CATEGORY or (isinstance(plain, float) and math.isnan(plain))
            record[str(key)] = None if missing else plain
        records.append(record)
    return records
