"""Benchmark conveyor-serve against the servers a team would pick instead.

Measured side by side in one run, on 127.0.0.1 only, on the same fitted model and records, each
server one worker pinned to one CPU and wrk pinned to another (where the machine has two):

- conveyor-serve, this checkout;
- conveyor-serve at an earlier commit (`--baseline`, a git worktree with that commit's own
  runtime environment, serving the same fitted model as that commit's export converts it):
  the "before" of a change;
- a bare Starlette + onnxruntime app with no validation and no metrics, and the same bare work
  answered in plain ASGI, as conveyor-serve answers POST /predict (bench/peers/bare.py): the
  app an engineer writes first, and the ceiling for this stack;
- FastAPI + pydantic + onnxruntime (bench/peers/fastapi_onnx.py): the common hand-rolled choice;
- the naive FastAPI + scikit-learn server (bench/naive_server.py);
- MLServer with its scikit-learn runtime and BentoML serving the scikit-learn pipeline
  (bench/peers/mlserver.py, bench/peers/bentoml.py), each installed from PyPI into its own
  throwaway environment, never into the project's lock.

Every server's answers are checked against onnxruntime's in this process before it is
measured. Also: the in-process floor, what the metrics cost per request, RSS after 1,000 and
10,000 requests, the runtime venv against a scikit-learn one, cold starts and (with --image)
the image. `make bench-serve` runs it after building the image:

    python bench/serve.py --image localhost/conveyor-serve:local --write docs/serving-benchmarks.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from conveyor.paths import ProjectPaths

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# `python bench/serve.py` puts bench/, not the root, on the path; the client helpers are the
# tests' own, so the benchmark sends exactly the requests the tests prove the server takes.
sys.path.insert(0, str(ROOT))
from tests.serve.client import client_records, free_port  # noqa: E402

from bench.peers import (  # noqa: E402
    Peer,
    PeerUnavailableError,
    bare,
    bentoml,
    conveyor,
    fastapi_onnx,
    mlserver,
    uvicorn_command,
)

SIGNATURE = ProjectPaths(ROOT).signature
MODEL = ProjectPaths(ROOT).onnx_model
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "4"))  # shorter for a quick look
BODIES = {"1 record": 1, "100 records": 100}
CONNECTIONS = (1, 16)
ORDER_KEYS = (
    "ours", "ours-columns", "before", "bare", "bare-asgi", "fastapi", "naive", "mlserver",
    "bentoml",
)  # fmt: skip
"""Every server the benchmark knows, in the report's order (`--servers` picks some)."""
LOAD_ORDER = (
    "bare", "ours", "before", "ours-columns", "bare-asgi", "fastapi", "naive", "mlserver",
    "bentoml",
)  # fmt: skip
"""The order servers take their load in, reversed every other round (`load_in_rounds`): each
pair the targets compare within a few percent (conveyor-serve with the bare app and with the
server before, the columnar form with the server before) is measured back to back."""
BASELINE = "d11bd1c"  # the last commit before the decoder rewrite (issue 14)
AGREEMENT = 1e-4  # onnxruntime's float32 against scikit-learn's float64, as the parity test


@dataclass(frozen=True)
class Load:
    """What wrk measured for one server, one body and one concurrency."""

    p50_ms: float
    p99_ms: float
    requests_per_second: float


@dataclass(frozen=True)
class Pinning:
    """Command prefixes that keep the server and the load generator off each other's CPU;
    `server_cpu` is the CPU the servers share (None when not pinned)."""

    server: list[str]
    load: list[str]
    note: str
    server_cpu: int | None = None


def pinning() -> Pinning:
    """Server on the last CPU this process may use, wrk on the first; none with one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return Pinning([], [], "not pinned (one CPU, or no taskset)")
    server, load = str(cpus[-1]), str(cpus[0])
    return Pinning(
        ["taskset", "-c", server],
        ["taskset", "-c", load],
        f"server on CPU {server}, wrk on CPU {load}",
        cpus[-1],
    )


QUIET_SHARE = 0.1  # the servers' CPU counts as quiet below a tenth busy
QUIET_TIMEOUT_S = 15.0


def wait_until_quiet(cpu: int | None, timeout: float = QUIET_TIMEOUT_S) -> None:
    """Wait (at most `timeout` seconds) until `cpu` (every CPU when None) is below
    QUIET_SHARE busy over a tenth of a second.

    A slow server keeps working off its queue after wrk stops: BentoML at 16 connections
    still had 0.25 to 0.5 s of requests in hand, all of it on the CPU the next server would be
    measured on. Without this wait the server loaded next starts its run sharing the CPU.
    """
    start = time.perf_counter()
    before = _cpu_times(cpu)
    while time.perf_counter() - start < timeout:
        time.sleep(0.1)
        after = _cpu_times(cpu)
        total, idle = after[0] - before[0], after[1] - before[1]
        if total > 0 and 1 - idle / total < QUIET_SHARE:
            break
        before = after


def _cpu_times(cpu: int | None) -> tuple[int, int]:
    """(all, idle and iowait) jiffies of one CPU, or of all of them, from /proc/stat."""
    label = "cpu " if cpu is None else f"cpu{cpu} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(label):
            values = [int(v) for v in line.split()[1:]]
            return sum(values), values[3] + values[4]
    return 0, 0


def wait_for_health(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 180
) -> float:
    """Seconds until `url` answers 200; fails at once if the server process has exited."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process is not None and process.poll() is not None:
            raise PeerUnavailableError(
                f"exited with status {process.returncode} before {url} answered"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise PeerUnavailableError(f"{url} did not answer 200 within {timeout:.0f} s")


@contextmanager
def running(
    peer: Peer, env: dict[str, str], prefix: list[str], log: Path
) -> Iterator[tuple[str, int, float]]:
    """Start `peer` in its own session (servers that fork are stopped whole); yields its
    URL, process group and cold start to the first 200 from its health path."""
    port = str(free_port())
    command = prefix + [part.replace("{port}", port) for part in peer.command]
    own = {key: value.replace("{port}", port) for key, value in peer.env.items()}
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env={**os.environ, **env, **own}, cwd=ROOT, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url + peer.health_path, process)
        yield url, process.pid, time.perf_counter() - started
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group, then SIGKILL to whatever of it is left (a worker whose
    supervisor exited first would otherwise outlive the benchmark)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def group_memory_mib(group: int) -> float:
    """Proportional set size (Pss) of every process in the group: BentoML runs its worker
    under a supervisor, and adding their RSS would count the pages they share twice."""
    total_kib = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:  # the field after state and ppid is the group
                continue
            rollup = (stat.parent / "smaps_rollup").read_text()
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total_kib += int(match.group(1)) if match else 0
    return total_kib / 1024


def records(count: int) -> list[dict[str, Any]]:
    """Realistic records: rows of the test set, as a client would send them."""
    import pandas as pd

    from conveyor.config import load_settings
    from conveyor.features import model_inputs

    settings = load_settings(ROOT / "params.yaml")
    frame = model_inputs(pd.read_parquet(ProjectPaths(ROOT).test_data), settings.data)
    return client_records(frame.head(count))


def post(url: str, body: bytes, content_type: str) -> bytes:
    """One POST; the reply body, or an error naming the status."""
    request = urllib.request.Request(url, body, {"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return bytes(reply.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode("utf-8", "replace")
        raise PeerUnavailableError(f"{url} answered {error.code}: {detail}") from None


def wrk(
    url: str, body: bytes, *, content_type: str, connections: int, scratch: Path, prefix: list[str]
) -> Load:
    """A bounded wrk run (fixed duration) posting `body`; latency percentiles and rate."""
    body_file = scratch / "body.bin"
    body_file.write_bytes(body)
    script = scratch / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    threads = "1" if prefix else str(min(connections, 2))
    completed = subprocess.run(
        [*prefix, "wrk", "-t", threads, "-c", str(connections), "-d", f"{WRK_SECONDS}s",
         "--timeout", "30s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True, timeout=WRK_SECONDS + 60,
    )  # fmt: skip
    output = completed.stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise PeerUnavailableError(f"wrk saw errors from {url}: {output.strip().splitlines()[-3:]}")

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rate, output
    return Load(percentile("50"), percentile("99"), float(rate.group(1)))


def _feeds(signature: dict[str, Any], batch: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The graph's columns for `batch`, built directly (no validation: the records are ours)."""
    feeds = {}
    for spec in signature["inputs"]:
        values = [r[spec["name"]] for r in batch]
        if spec["type"] == "number":
            column = np.array([np.nan if v is None else v for v in values], dtype=np.float32)
        else:
            missing = spec.get("missing_value", "")
            column = np.array([missing if v is None else v for v in values], dtype=object)
        feeds[spec["name"]] = column.reshape(-1, 1)
    return feeds


def floors(
    batch: list[dict[str, Any]], repeats: int, models: Sequence[Path]
) -> list[tuple[float, float]]:
    """p50 and p99 (ms) of InferenceSession.run on prepared feeds, no HTTP, no JSON, for each
    graph; the graphs take turns, call by call, so a busy spell weighs on all alike."""
    signature = json.loads(SIGNATURE.read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = [
        ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        for model in models
    ]
    feeds = _feeds(signature, batch)
    output = signature["output"]["probability_output"]
    timings: list[list[float]] = [[] for _ in sessions]
    for _ in range(repeats):
        for session, own in zip(sessions, timings, strict=True):
            start = time.perf_counter()
            session.run([output], feeds)
            own.append((time.perf_counter() - start) * 1000)
    return [(statistics.median(own), float(np.percentile(own, 99))) for own in timings]


@dataclass(frozen=True)
class Sequential:
    """10,000 sequential keep-alive requests: the server's RSS after 1,000 and after 10,000,
    and the client's median time per request over the first and the last thousand."""

    rss_1000_mib: float
    rss_10000_mib: float
    first_1000_ms: float
    last_1000_ms: float


def sequential_requests(url: str, pid: int, body: bytes) -> Sequential:
    """One connection, one request after the other, as a client that never batches."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    readings, times = [], []
    for count in range(1, 10_001):
        start = time.perf_counter()
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        reply.read()
        times.append((time.perf_counter() - start) * 1000)
        if reply.status != 200:
            raise SystemExit(f"request {count} failed with {reply.status}")
        if count in (1_000, 10_000):
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            assert match
            readings.append(int(match.group(1)) / 1024)
    connection.close()
    return Sequential(
        readings[0], readings[1], statistics.median(times[:1000]), statistics.median(times[-1000:])
    )


def rss_after_requests(url: str, pid: int, body: bytes) -> tuple[float, float]:
    """RSS (MiB) after 1,000 and after 10,000 sequential keep-alive requests."""
    run = sequential_requests(url, pid, body)
    return run.rss_1000_mib, run.rss_10000_mib


def site_packages_mib(
    requirements: list[str], scratch: Path, name: str, *, pruned: bool = False
) -> float:
    """Installed size of a fresh venv holding `requirements` (uv, from the local cache).

    `pruned` applies scripts/prune-runtime.sh, as the Dockerfile does to the image's venv.
    """
    pinned = ROOT / ".tools" / "bin" / "uv"
    uv = str(pinned) if pinned.exists() else "uv"
    venv = scratch / name
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *requirements],
        check=True,
    )
    if pruned:
        subprocess.run(["bash", str(ROOT / "scripts" / "prune-runtime.sh"), str(venv)], check=True)
    total = sum(p.stat().st_size for p in (venv / "lib").rglob("*") if p.is_file())
    return total / 2**20


def container_figures(image: str) -> dict[str, float]:
    """Image size and cold start of the container to the first 200 from /health."""
    engine = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container.sh"), "engine"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".tools" / "containers.conf")}
    inspect = subprocess.run(
        [engine, "image", "inspect", image], capture_output=True, text=True, check=True, env=env
    )
    size = json.loads(inspect.stdout)[0]["Size"] / 2**20
    starts = []
    for attempt in range(3):
        port = free_port()
        name = f"conveyor-bench-{os.getpid()}-{attempt}"
        started = time.perf_counter()
        subprocess.run(
            [engine, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", image],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        try:
            wait_for_health(f"http://127.0.0.1:{port}/health")
            starts.append(time.perf_counter() - started)
        finally:
            subprocess.run([engine, "rm", "-f", name], capture_output=True, env=env, check=False)
    return {"image_mib": size, "container_cold_start_s": statistics.median(starts)}


def expected_probabilities(batch: list[dict[str, Any]]) -> list[float]:
    """onnxruntime's answer in this process, which every server's must match."""
    signature = json.loads(SIGNATURE.read_text())
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (table,) = session.run([signature["output"]["probability_output"]], _feeds(signature, batch))
    return [float(p) for p in table[:, signature["output"]["positive_index"]]]


def metrics_cost_us(repeats: int = 20_000) -> float:
    """Microseconds the metrics add to one single-record /predict: the request counter, the
    latency histogram and the predicted-class counter, timed in this process."""
    from conveyor.serve.telemetry import Telemetry

    telemetry = Telemetry({"version": "bench"})
    labels = ["<=50K"]
    start = time.perf_counter()
    for _ in range(repeats):
        telemetry.count_request("/predict", "POST", 200, 0.0003)
        telemetry.count_predictions(labels, {})
    return (time.perf_counter() - start) / repeats * 1e6


PeerFactory = Callable[[Path, Path], Peer]


def naive_peer(scratch: Path, root: Path) -> Peer:
    """bench/naive_server.py, defined here: importing it loads the model."""
    return Peer("naive FastAPI + scikit-learn pipeline", uvicorn_command("bench.naive_server:app"))


@dataclass
class Running:
    """A started server that answered correctly, and what was measured of it.

    `process` holds the current process; `restart` replaces it with a fresh one, so each
    round of load meets a new process and one process's luck on a shared machine (where it
    landed in memory, a neighbour's burst while it ran) weighs on one round, not on all.
    """

    peer: Peer
    launch: Callable[[ExitStack], tuple[str, int, float]]
    process: ExitStack
    url: str
    group: int
    cold_starts: list[float]
    bodies: dict[str, bytes]
    rounds: dict[tuple[str, int], dict[int, Load]] = field(default_factory=dict)
    """Per body and concurrency, what each round measured, by the round's number (a server
    that dropped out has fewer): rounds are paired across servers by their number."""

    def stop(self) -> None:
        """Stop the current process, whichever the last restart started."""
        self.process.close()

    def start(self) -> None:
        """Start a fresh process and note its cold start."""
        self.process = ExitStack()
        self.url, self.group, cold = self.launch(self.process)
        self.cold_starts.append(cold)

    def restart(self) -> None:
        self.stop()
        self.start()

    def medians(self) -> dict[tuple[str, int], Load]:
        """Per body and concurrency, the median of the rounds."""
        return {combo: median_load(list(loads.values())) for combo, loads in self.rounds.items()}


def start_checked(
    peer: Peer,
    *,
    stack: ExitStack,
    env: dict[str, str],
    pins: Pinning,
    scratch: Path,
    batches: dict[str, list[dict[str, Any]]],
    expected: dict[str, list[float]],
) -> Running:
    """Start `peer` (its current process stopped when `stack` closes) and check its answers
    before any load."""

    def launch(process: ExitStack) -> tuple[str, int, float]:
        started: tuple[str, int, float] = process.enter_context(
            running(peer, env, pins.server, scratch / "server.log")
        )
        return started

    server = Running(peer, launch, ExitStack(), "", 0, [], {})
    stack.callback(server.stop)
    server.start()
    server.bodies = {name: peer.encode(batch) for name, batch in batches.items()}
    for name, body in server.bodies.items():
        answer = peer.probabilities(post(server.url + peer.predict_path, body, peer.content_type))
        worst = max(abs(a - b) for a, b in zip(answer, expected[name], strict=True))
        if worst > AGREEMENT:
            raise PeerUnavailableError(
                f"its probabilities differ from onnxruntime's by {worst:.2g} ({name})"
            )
    return server


def load_in_rounds(
    servers: dict[str, Running], scratch: Path, pins: Pinning, rounds: int
) -> dict[str, str]:
    """Every body and concurrency against every server, one server after the other, `rounds`
    times over, each server restarted between rounds: a slow minute on a shared machine then
    hits every server alike, no process carries its luck through the run, and each figure is
    the median of its rounds. A server that fails under load or to restart drops out with the
    reason (returned), and the others go on.

    Servers are loaded in the order of `servers`, then in the reverse order the next round,
    and so on: neighbours in that order are measured seconds apart, each first in one round
    and second in the next, so a machine that speeds up or slows down within a round favours
    neither. Before each run the servers' CPU is let go quiet (`wait_until_quiet`)."""
    failed: dict[str, str] = {}
    for index in range(rounds):
        order = list(servers.items())
        if index % 2:
            order.reverse()
        for key, server in servers.items():
            if index and key not in failed:
                try:
                    server.restart()
                except PeerUnavailableError as error:
                    failed[key] = f"failed to restart for round {index + 1}: {error}"
        for body in BODIES:
            for connections in CONNECTIONS:
                for key, server in order:
                    if key in failed:
                        continue
                    wait_until_quiet(pins.server_cpu)
                    try:
                        load = wrk(
                            server.url + server.peer.predict_path,
                            server.bodies[body],
                            content_type=server.peer.content_type,
                            connections=connections,
                            scratch=scratch,
                            prefix=pins.load,
                        )
                    except (PeerUnavailableError, subprocess.CalledProcessError) as error:
                        failed[key] = f"failed under load ({body}, {connections}): {error}"
                        continue
                    server.rounds.setdefault((body, connections), {})[index] = load
    return failed


def median_load(loads: list[Load]) -> Load:
    return Load(
        statistics.median(load.p50_ms for load in loads),
        statistics.median(load.p99_ms for load in loads),
        statistics.median(load.requests_per_second for load in loads),
    )


def server_environment() -> dict[str, str]:
    """What every measured server is started with: this checkout's model, one thread."""
    return {
        "CONVEYOR_MODEL_PATH": str(MODEL),
        "CONVEYOR_SIGNATURE_PATH": str(SIGNATURE),
        "CONVEYOR_PARAMS": str(ROOT / "params.yaml"),
        # One thread per server: scikit-learn's OpenMP would start one per core and fight
        # the load generator, where onnxruntime already runs one intra-op thread.
        "OMP_NUM_THREADS": "1",
    }


def measure(
    image: str | None, baseline: str, rounds: int, only: Sequence[str] = ORDER_KEYS
) -> dict[str, Any]:
    batches = {name: records(count) for name, count in BODIES.items()}
    expected = {name: expected_probabilities(batch) for name, batch in batches.items()}
    env = server_environment()
    pins = pinning()
    results: dict[str, Any] = {
        "servers": {}, "unavailable": {}, "pinning": pins.note, "rounds": rounds,
        "baseline": baseline,
    }  # fmt: skip
    factories: dict[str, PeerFactory] = {
        "ours": conveyor.peer,
        "ours-columns": conveyor.columnar_peer,
        "before": lambda s, r: conveyor.baseline_peer(s, r, baseline),
        "bare": bare.peer,
        "bare-asgi": bare.asgi_peer,
        "fastapi": fastapi_onnx.peer,
        "naive": naive_peer,
        "mlserver": mlserver.peer,
        "bentoml": bentoml.peer,
    }
    factories = {key: factory for key, factory in factories.items() if key in only}
    with tempfile.TemporaryDirectory() as scratch_name, ExitStack() as stack:
        scratch = Path(scratch_name)
        stack.callback(conveyor.remove_baseline, scratch / "before", ROOT)
        servers: dict[str, Running] = {}
        for key, factory in factories.items():
            print(f"bench: preparing and starting {key}", file=sys.stderr, flush=True)
            own = scratch / key  # each peer's venv, model and logs apart
            own.mkdir()
            try:
                servers[key] = start_checked(
                    factory(own, ROOT), stack=stack, env=env, pins=pins, scratch=own,
                    batches=batches, expected=expected,
                )  # fmt: skip
            except PeerUnavailableError as error:
                results["unavailable"][key] = str(error)
                print(f"bench: {key} unavailable: {error}", file=sys.stderr, flush=True)
        print(f"bench: {rounds} round(s) of load", file=sys.stderr, flush=True)
        in_load_order = {key: servers[key] for key in sorted(servers, key=LOAD_ORDER.index)}
        results["unavailable"].update(load_in_rounds(in_load_order, scratch, pins, rounds))
        for key, server in servers.items():
            if key in results["unavailable"]:
                continue
            results["servers"][key] = {
                "name": server.peer.name,
                "cold_start_s": statistics.median(server.cold_starts),
                "memory_mib": group_memory_mib(server.group),
                "load": server.medians(),
                "rounds": server.rounds,
            }
        if "ours" in servers:
            ours = servers["ours"]
            results["servers"]["ours"]["rss_after"] = rss_after_requests(
                ours.url, ours.group, ours.bodies["1 record"]
            )
        earlier = conveyor.baseline_model(scratch / "before")
        graphs = [MODEL, earlier] if earlier.is_file() else [MODEL]
        repeats = {"1 record": 5000, "100 records": 2000}
        measured = {body: floors(batches[body], n, graphs) for body, n in repeats.items()}
        results["floor"] = {body: timings[0] for body, timings in measured.items()}
        if len(graphs) > 1:
            results["floor_before"] = {body: timings[1] for body, timings in measured.items()}
        results["metrics_us"] = metrics_cost_us()
        locked = ["--require-hashes", "-r", str(ROOT / "requirements" / "serve.txt")]
        footprint = scratch / "footprint"
        footprint.mkdir()
        installed = site_packages_mib(locked, footprint, "rt-installed")
        runtime = site_packages_mib(locked, footprint, "rt", pruned=True)
        naive = site_packages_mib(
            ["numpy", "scikit-learn", "pandas", "skops", "fastapi", "uvicorn"], footprint, "naive"
        )
        results["venv_mib"] = {"installed": installed, "runtime": runtime, "naive": naive}
    if image:
        try:
            results["container"] = container_figures(image)
        except (PeerUnavailableError, subprocess.CalledProcessError) as error:
            results["unavailable"]["image"] = str(error)
    return results


ORDER = ORDER_KEYS
SERVER_NOTES = (
    "- **conveyor-serve**: this checkout; strict validation of every record, Prometheus "
    "metrics, live drift tracking as shipped (on, a tenth of the rows), JSON errors "
    "(`src/conveyor/serve`).",
    "- **conveyor-serve, columnar bodies**: the same server sent the same rows in the "
    'columnar form (`{"columns": {input: [values]}}`), a second process of it.',
    "- **conveyor-serve before**: the same server at `--baseline` (default: the commit before "
    "the msgspec decoder), from a git worktree with that commit's own locked runtime, serving "
    "the same fitted model (`model.skops`) as that commit's export code converts it "
    "(skl2onnx's graph, before the lookup encoding); every other server serves this "
    "checkout's `model.onnx`.",
    "- **bare**: Starlette + onnxruntime, msgspec decoding, no validation, no metrics, no "
    "error handling (`bench/peers/bare.py`): the app an engineer writes first, the bar the "
    "targets below use.",
    "- **bare ASGI**: the same work answered in plain ASGI, the shortcut conveyor-serve takes "
    "for `POST /predict`: conveyor-serve against it is the price of validation and metrics.",
    "- **FastAPI + pydantic + onnxruntime**: a record model generated from `signature.json`, "
    "validated by FastAPI (`bench/peers/fastapi_onnx.py`): the common hand-rolled choice.",
    "- **naive**: FastAPI + the scikit-learn pipeline through pandas (`bench/naive_server.py`).",
    "- **MLServer**: its stock scikit-learn runtime on the pipeline exported with joblib, V2 "
    "inference protocol with the pandas codec, inference in the server process "
    "(`bench/peers/mlserver.py`).",
    "- **BentoML**: a `@bentoml.service` with one worker running the pipeline on the records "
    "(`bench/peers/bentoml.py`).",
    "",
    "MLServer and BentoML serve the scikit-learn pipeline, as their scikit-learn support does, "
    "so the ratios against them measure the whole choice (their server and scikit-learn "
    "through pandas) against conveyor-serve's (onnxruntime on the exported graph). During a "
    "round all servers are up, pinned to the same CPU; only the one under load works.",
)


def _rows_per_second(load: Load, body: str) -> float:
    return load.requests_per_second * BODIES[body]


def report(results: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    servers = results["servers"]
    lines = [
        "# Serving benchmarks",
        "",
        f"Measured by `make bench-serve` (`python bench/serve.py`) on {when}: {os.cpu_count()} "
        f"cores shared with other work, Python {sys.version.split()[0]}, one server worker, "
        f"{results['pinning']}, load from wrk on 127.0.0.1. Every server was started first; "
        f"then each body and concurrency ran {WRK_SECONDS} s against each server in turn, "
        f"{results['rounds']} rounds over, every server restarted between rounds (a fresh "
        "process each round, so no process's luck on a shared machine weighs on every round). "
        "Servers took their turns in one order, reversed every other round, each once the "
        "servers' CPU had gone quiet (a slow server works off its queue after its run); "
        "the servers a target compares run back to back. Each figure in the tables is the "
        "median of its rounds; each ratio in the targets is the median of the two servers' "
        "round-by-round ratios, with their range, so a slow spell of the machine, which moves "
        "two runs made seconds apart alike, cancels out of it. Records "
        "are rows of the Adult test set; every server's probabilities were checked against "
        f"onnxruntime's (within {AGREEMENT:g}) before it was measured. Everything below was "
        "measured side by side in one run; read ratios, not absolute numbers.",
        "",
        "The servers (each one worker, one onnxruntime or OpenMP thread):",
        "",
        *SERVER_NOTES,
        "",
        "Reproduce: `make bench-serve` (builds the image, installs wrk and taskset on "
        "Debian/Ubuntu, about 30 minutes), or `python bench/serve.py [--rounds N] "
        "[--baseline REVISION] [--image IMAGE] [--servers ours,bare,...] [--write FILE]` after "
        "`make run`; `BENCH_WRK_SECONDS=1` and `--servers ours,bare` for a quick look. "
        "MLServer and BentoML are installed from PyPI "
        "into throwaway environments under a temporary directory, never into the project's "
        "lock.",
        "",
        "What live drift tracking costs (conveyor-serve with `CONVEYOR_DRIFT` on against off, "
        "and the live tracker against `conveyor drift`): [drift-benchmarks.md]"
        "(drift-benchmarks.md) (`make bench-drift`).",
        "",
        "## Latency and throughput over HTTP",
        "",
        "| server | body | connections | p50 (ms) | p99 (ms) | requests/s | rows/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key in ORDER:
        if key not in servers:
            continue
        for (body, connections), load in servers[key]["load"].items():
            lines.append(
                f"| {servers[key]['name']} | {body} | {connections} | {load.p50_ms:.2f} | "
                f"{load.p99_ms:.2f} | {load.requests_per_second:,.0f} | "
                f"{_rows_per_second(load, body):,.0f} |"
            )
    if results["unavailable"]:
        lines += ["", "Not measured:", ""]
        lines += [f"- {key}: {reason}" for key, reason in results["unavailable"].items()]
    lines += [
        "",
        "## The floor: `InferenceSession.run` in-process (no HTTP, no JSON)",
        "",
        "| batch | graph | p50 (ms) | p99 (ms) |",
        "|---|---|---:|---:|",
    ]
    graphs = {"this export (lookup encoding)": results["floor"]}
    if "floor_before" in results:
        graphs[f"the export at {results['baseline']} (skl2onnx's)"] = results["floor_before"]
    for batch in results["floor"]:
        for graph, timings in graphs.items():
            p50, p99 = timings[batch]
            lines.append(f"| {batch} | {graph} | {p50:.3f} | {p99:.3f} |")
    lines += _footprint(results)
    lines += _targets(results)
    return "\n".join(lines) + "\n"


def _footprint(results: dict[str, Any]) -> list[str]:
    servers = results["servers"]
    venv = results["venv_mib"]
    lines = [
        "",
        "## Footprint and start-up",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| runtime venv as installed (requirements/serve.txt) | {venv['installed']:,.0f} MiB |",
        f"| runtime venv as in the image (pruned by scripts/prune-runtime.sh) | "
        f"{venv['runtime']:,.0f} MiB |",
        f"| venv with scikit-learn + pandas + skops + FastAPI | {venv['naive']:,.0f} MiB |",
        f"| metrics per single-record request (counters and histogram, in-process) | "
        f"{results['metrics_us']:.1f} µs |",
    ]
    for key in ORDER:
        if key in servers:
            server = servers[key]
            lines.append(
                f"| {server['name']}: cold start to first 200 (median of its starts), memory (Pss) "
                "after the load | "
                f"{server['cold_start_s']:.2f} s, {server['memory_mib']:,.0f} MiB |"
            )
    if "ours" in servers:
        after_1k, after_10k = servers["ours"]["rss_after"]
        lines += [
            f"| conveyor-serve RSS after 1,000 requests | {after_1k:.1f} MiB |",
            f"| conveyor-serve RSS after 10,000 requests | {after_10k:.1f} MiB |",
        ]
    if "container" in results:
        container = results["container"]
        lines += [
            f"| image size | {container['image_mib']:,.0f} MiB |",
            f"| container cold start to first 200 on /health | "
            f"{container['container_cold_start_s']:.2f} s |",
        ]
    return lines


def paired_ratios(
    ours: dict[int, Load], other: dict[int, Load], value: Callable[[Load], float]
) -> list[float]:
    """`value` of ours over `value` of the other server, round by round, for the rounds both
    were measured in: each ratio compares two runs made seconds apart, so a slow spell of a
    shared machine, which moves both, mostly cancels in it where it would not in a ratio of
    two medians taken over the whole run."""
    common = sorted(ours.keys() & other.keys())
    return [value(ours[index]) / value(other[index]) for index in common]


def _paired_figure(ratios: list[float]) -> str:
    """The median of the round-by-round ratios, with their range."""
    return f"{statistics.median(ratios):.2f} x (rounds: {min(ratios):.2f} to {max(ratios):.2f})"


def _targets(results: dict[str, Any]) -> list[str]:
    """Each target as measured in this run: met, missed, or not measurable (a peer missing).

    A ratio between two servers is the median of their round-by-round ratios
    (`paired_ratios`)."""
    servers = results["servers"]
    rows: list[tuple[str, str, bool | None]] = []

    def rounds(key: str, body: str, connections: int) -> dict[int, Load] | None:
        server = servers.get(key)
        return None if server is None else server["rounds"][(body, connections)]

    def throughput(load: Load) -> float:
        return load.requests_per_second

    def ratio_row(
        label: str, ours: dict[int, Load] | None, other: dict[int, Load] | None, at_least: float
    ) -> None:
        ratios = [] if ours is None or other is None else paired_ratios(ours, other, throughput)
        if not ratios:
            rows.append((label, "not measured", None))
            return
        rows.append((label, _paired_figure(ratios), statistics.median(ratios) >= at_least))

    def name(key: str) -> str:
        return str(servers[key]["name"]) if key in servers else key

    comparisons = [("throughput >= 0.9 x the bare app", "bare", "1 record", 0.9)]
    comparisons += [
        (f"throughput >= 2 x {name(peer)}", peer, body, 2.0)
        for peer in ("mlserver", "bentoml")
        for body in BODIES
    ]
    comparisons += [("rows/s >= 2 x the server before", "before", "100 records", 2.0)]
    for label, other, body, at_least in comparisons:
        for connections in CONNECTIONS:
            ours, theirs = rounds("ours", body, connections), rounds(other, body, connections)
            ratio_row(f"{label} ({body}, {connections} connection(s))", ours, theirs, at_least)
    for connections in CONNECTIONS:
        ratio_row(
            f"rows/s >= 2 x the server before, columnar bodies (100 records, {connections} "
            "connection(s))",
            rounds("ours-columns", "100 records", connections),
            rounds("before", "100 records", connections), 2.0,
        )  # fmt: skip
    ratio_row(
        "throughput >= 5 x the naive server (1 record, 16 connections)",
        rounds("ours", "1 record", 16), rounds("naive", "1 record", 16), 5.0,
    )  # fmt: skip
    if "ours" in servers:
        ours_p50 = servers["ours"]["load"][("1 record", 1)].p50_ms
        budget = 3 * results["floor"]["1 record"][0] + 1
        label = f"p50 <= 3 x the in-process floor + 1 ms = {budget:.2f} ms (1 record, 1 connection)"
        rows.append((label, f"{ours_p50:.2f} ms", ours_p50 <= budget))
    ours_rounds, bare_rounds = rounds("ours", "1 record", 1), rounds("bare", "1 record", 1)
    if ours_rounds and bare_rounds:
        ratios = paired_ratios(ours_rounds, bare_rounds, lambda load: load.p50_ms)
        label = "p50 <= 1.1 x the bare app's (1 record, 1 connection)"
        rows.append((label, _paired_figure(ratios), statistics.median(ratios) <= 1.1))
    if "ours" in servers:
        after_1k, after_10k = servers["ours"]["rss_after"]
        growth = (after_10k - after_1k) / after_1k
        rows.append(
            (
                "RSS flat (within 10%) from request 1,000 to 10,000",
                f"{growth:+.1%}",
                abs(growth) <= 0.10,
            )
        )
    venv = results["venv_mib"]
    share = venv["runtime"] / venv["naive"]
    rows.append(
        (
            "runtime venv (as in the image) <= 40% of the scikit-learn one",
            f"{share:.0%}",
            share <= 0.40,
        )
    )
    verdicts = {True: "met", False: "**missed**", None: "not measured"}
    lines = ["", "## Against the targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {label} | {value} | {verdicts[ok]} |" for label, value, ok in rows]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="also measure this image (size, container cold start)")
    parser.add_argument(
        "--baseline", default=BASELINE, help="the commit to compare with (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=7, help="load rounds over every server (default: %(default)s)"
    )
    parser.add_argument("--write", type=Path, help="write the markdown report here")
    parser.add_argument(
        "--servers",
        default=",".join(ORDER_KEYS),
        help="a comma-separated subset to measure, for a quick look (default: all: %(default)s)",
    )
    arguments = parser.parse_args(argv)
    only = [key.strip() for key in arguments.servers.split(",") if key.strip()]
    unknown = sorted(set(only) - set(ORDER_KEYS))
    if unknown:
        parser.error(f"--servers: unknown {', '.join(unknown)}; known: {', '.join(ORDER_KEYS)}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: `make bench-serve` installs it (apt-get install wrk)")
    text = report(measure(arguments.image, arguments.baseline, arguments.rounds, only))
    if arguments.write:
        arguments.write.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
