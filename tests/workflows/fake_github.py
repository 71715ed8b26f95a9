"""A fake GitHub REST API over HTTPS on 127.0.0.1, for running the real CML against it.

CML 0.20.6 (`cml comment update --driver github --repo https://HOST/OWNER/REPO --target=pr/N`)
talks to `https://HOST/api/v3` whenever HOST is not github.com, as for GitHub Enterprise
Server. What it calls is served here, from the same shapes GitHub answers with:

- `GET  /api/v3/repos/O/R/issues/N/comments`: the pull request's comments (`update` looks for
  the one carrying its watermark);
- `POST /api/v3/repos/O/R/issues/N/comments`: a new comment;
- `PATCH /api/v3/repos/O/R/issues/comments/ID`: an edited comment;
- `GET  /api/v3/users/NAME`: CML looks the actor up for its telemetry id even when
  `ITERATIVE_DO_NOT_TRACK` stops it from sending anything.

Comments live in memory; every request is recorded (method, path, token, JSON body), so a
test can assert what CML sent and not only what it printed. Anything else answers 404, as
does an issue number that is not one of the repository's pull requests, and a request
without the expected token answers 401, so a token that does not reach CML is seen.

TLS is real: the certificate is made with the `openssl` CLI at start and is trusted by node
through `NODE_EXTRA_CA_CERTS` (`ca_file`), never by switching verification off.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

API = "/api/v3"
COMMENTS = re.compile(rf"^{API}/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")
COMMENT = re.compile(rf"^{API}/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$")
USER = re.compile(rf"^{API}/users/([^/]+)$")


@dataclass(frozen=True)
class Request:
    """One request as the server received it, and the status it was answered with."""

    method: str
    path: str
    token: str | None
    body: Any
    status: int


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its IP in subjectAltName, as node requires)."""
    certificate, key = directory / "github-cert.pem", directory / "github-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


class _Server(ThreadingHTTPServer):
    """Accepts plain TCP and does the TLS handshake in the request's own thread.

    Wrapping the listening socket instead would do each handshake inside `accept()`, on the
    serving thread, where one stalled client would stop every other.
    """

    daemon_threads = True

    def __init__(self, fake: FakeGitHub, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up the handshake: nothing to answer
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests say what happened."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        authorization = self.headers.get("Authorization") or ""
        token = authorization.split(" ", 1)[1] if " " in authorization else None
        path = urlsplit(self.path).path
        status, answer = self.server.fake.answer(method, path, token, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeGitHub:
    """The GitHub API of one repository and its pull requests, for one test.

    Use it as a context manager; `url` is then the server's address, to be given to act as
    the GitHub instance (`github.server_url`) and to CML as the repository's host.
    """

    def __init__(
        self, directory: Path, *, repository: str, token: str, pulls: Iterable[int] = ()
    ) -> None:
        self.repository = repository
        self.token = token
        self.pulls = set(pulls)
        self.requests: list[Request] = []
        self._comments: dict[int, dict[str, Any]] = {}  # id -> the comment, as the API shows it
        self._issue: dict[int, int] = {}  # comment id -> its pull request's number
        self._next_id = 1001
        self._lock = threading.Lock()
        self.ca_file, key = make_certificate(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key)
        self._server = _Server(self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, what act's `--github-instance` takes."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        # Ready when it accepts a connection, so no test races the server's start.
        socket.create_connection(("127.0.0.1", self._server.server_address[1]), 5).close()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def add_comment(self, number: int, body: str, user: str = "octocat") -> int:
        """A comment someone else wrote, which CML must leave alone."""
        with self._lock:
            return self._create(number, body, user)["id"]  # type: ignore[no-any-return]

    def comments(self, number: int) -> list[dict[str, Any]]:
        """The pull request's comments, oldest first, as the API lists them."""
        with self._lock:
            return [dict(c) for i, c in self._comments.items() if self._issue[i] == number]

    def _create(self, number: int, body: str, user: str) -> dict[str, Any]:
        comment_id, self._next_id = self._next_id, self._next_id + 1
        comment = {
            "id": comment_id,
            "body": body,
            "user": {"login": user},
            "html_url": f"{self.url}/{self.repository}/pull/{number}#issuecomment-{comment_id}",
        }
        self._comments[comment_id], self._issue[comment_id] = comment, number
        return comment

    def answer(self, method: str, path: str, token: str | None, body: Any) -> tuple[int, Any]:
        """The status and JSON body GitHub would answer with; the request is recorded."""
        with self._lock:
            if token != self.token:
                status, answer = 401, {"message": "Bad credentials"}
            else:
                status, answer = self._route(method, path, body)
            self.requests.append(Request(method, path, token, body, status))
            return status, answer

    def writes(self) -> list[Request]:
        """The requests that would have changed something on GitHub."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and (match := USER.match(path)):
            return 200, {"login": unquote(match[1]), "id": 1, "name": None}
        if (match := COMMENTS.match(path)) and self._ours(match[1], match[2]):
            number = int(match[3])
            if number not in self.pulls:
                return 404, {"message": "Not Found"}
            if method == "GET":
                return 200, [c for i, c in self._comments.items() if self._issue[i] == number]
            if method == "POST" and isinstance(body, dict) and isinstance(body.get("body"), str):
                return 201, self._create(number, body["body"], "github-actions[bot]")
        if (match := COMMENT.match(path)) and self._ours(match[1], match[2]):
            comment = self._comments.get(int(match[3]))
            if comment is None:
                return 404, {"message": "Not Found"}
            if method == "PATCH" and isinstance(body, dict) and isinstance(body.get("body"), str):
                comment["body"] = body["body"]
                return 200, comment
        return 404, {"message": "Not Found"}

    def _ours(self, owner: str, name: str) -> bool:
        return f"{owner}/{name}" == self.repository
