"""Benchmark the serving runtime against the naive alternative and the in-process floor.

Measured side by side in one run, on 127.0.0.1 only, with bounded loads (wrk, fixed
durations):

- (a) `conveyor-serve` (Starlette + onnxruntime, one worker),
- (b) the naive server a team would write (`bench/naive_server.py`: FastAPI + the
  scikit-learn pipeline loaded with skops, one worker),
- (c) the floor: `InferenceSession.run` in-process, no HTTP.

Also: the runtime venv against a venv with scikit-learn + pandas, cold start to the first
200 from /health (process and, with --image, container), the image size, and the server's
RSS after 1,000 and 10,000 requests. Run after `make run` (and `make image` for --image):

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
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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

SIGNATURE = ProjectPaths(ROOT).signature
MODEL = ProjectPaths(ROOT).onnx_model
WRK_SECONDS = 8


@dataclass(frozen=True)
class Load:
    """What wrk measured for one server, one body and one concurrency."""

    p50_ms: float
    p99_ms: float
    requests_per_second: float


def wait_for_health(url: str, timeout: float = 60) -> float:
    """Seconds until /health answers 200."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as reply:
                if reply.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{url} did not become healthy in {timeout} s")


@contextmanager
def running(command: list[str], env: dict[str, str]) -> Iterator[tuple[str, int, float]]:
    """Start a server process; yields its URL, pid and cold start time to the first 200."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        command + (["--port", str(port)] if "uvicorn" in command[0] else []),
        env={**os.environ, **env, "CONVEYOR_PORT": str(port), "CONVEYOR_HOST": "127.0.0.1"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url)
        yield url, process.pid, time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def records(count: int) -> list[dict[str, Any]]:
    """Realistic records: rows of the test set, as a client would send them."""
    import pandas as pd

    from conveyor.config import load_settings
    from conveyor.features import model_inputs

    settings = load_settings(ROOT / "params.yaml")
    frame = model_inputs(pd.read_parquet(ProjectPaths(ROOT).test_data), settings.data)
    return client_records(frame.head(count))


def wrk(url: str, body: bytes, connections: int, scratch: Path) -> Load:
    """A bounded wrk run (fixed duration) posting `body`; latency percentiles and rate."""
    body_file = scratch / "body.json"
    body_file.write_bytes(body)
    script = scratch / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    completed = subprocess.run(
        ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{WRK_SECONDS}s",
         "--latency", "-s", str(script), f"{url}/predict"],
        capture_output=True, text=True, check=True, timeout=WRK_SECONDS + 60,
    )  # fmt: skip
    output = completed.stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw errors from {url}:\n{output}")

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rate, output
    return Load(percentile("50"), percentile("99"), float(rate.group(1)))


def floor(batch: list[dict[str, Any]], repeats: int) -> tuple[float, float]:
    """p50 and p99 (ms) of InferenceSession.run on prepared feeds, no HTTP, no JSON."""
    signature = json.loads(SIGNATURE.read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])
    feeds = {}
    for field in signature["inputs"]:
        values = [r[field["name"]] for r in batch]
        if field["type"] == "number":
            feeds[field["name"]] = np.array(
                [np.nan if v is None else v for v in values], dtype=np.float32
            ).reshape(-1, 1)
        else:
            feeds[field["name"]] = np.array(
                ["" if v is None else v for v in values], dtype=object
            ).reshape(-1, 1)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(["probabilities"], feeds)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), float(np.percentile(timings, 99))


def rss_after_requests(url: str, pid: int, body: bytes) -> tuple[float, float]:
    """RSS (MiB) after 1,000 and after 10,000 sequential keep-alive requests."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    readings = []
    for count in range(1, 10_001):
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        reply.read()
        if reply.status != 200:
            raise SystemExit(f"request {count} failed with {reply.status}")
        if count in (1_000, 10_000):
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            assert match
            readings.append(int(match.group(1)) / 1024)
    connection.close()
    return readings[0], readings[1]


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
            wait_for_health(f"http://127.0.0.1:{port}")
            starts.append(time.perf_counter() - started)
        finally:
            subprocess.run([engine, "rm", "-f", name], capture_output=True, env=env, check=False)
    return {"image_mib": size, "container_cold_start_s": statistics.median(starts)}


def measure(image: str | None) -> dict[str, Any]:
    one = records(1)[0]
    hundred = records(100)
    bodies = {"1 record": json.dumps(one).encode(), "100 records": json.dumps(hundred).encode()}
    env = {
        "CONVEYOR_MODEL_PATH": str(MODEL),
        "CONVEYOR_SIGNATURE_PATH": str(SIGNATURE),
        "CONVEYOR_PARAMS": str(ROOT / "params.yaml"),
    }
    servers = {
        "conveyor-serve (Starlette + onnxruntime)": [str(BIN / "conveyor-serve")],
        "naive (FastAPI + sklearn pipeline)": [
            str(BIN / "uvicorn"), "bench.naive_server:app", "--host", "127.0.0.1",
            "--log-level", "warning",
        ],
    }  # fmt: skip
    results: dict[str, Any] = {"load": {}, "cold_start_s": {}, "rss_mib": {}}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        for name, command in servers.items():
            with running(command, env) as (url, pid, cold):
                results["cold_start_s"][name] = cold
                for body_name, body in bodies.items():
                    for connections in (1, 16):
                        key = (name, body_name, connections)
                        results["load"][key] = wrk(url, body, connections, scratch)
                if name.startswith("conveyor"):
                    results["rss_mib"] = dict(
                        zip(
                            ("after 1,000", "after 10,000"),
                            rss_after_requests(url, pid, bodies["1 record"]),
                            strict=True,
                        )
                    )
        results["floor"] = {
            "1 record": floor([one], 5000),
            "100 records": floor(hundred, 2000),
        }
        locked = ["--require-hashes", "-r", str(ROOT / "requirements" / "serve.txt")]
        installed = site_packages_mib(locked, scratch, "rt-installed")
        runtime = site_packages_mib(locked, scratch, "rt", pruned=True)
        naive = site_packages_mib(
            ["numpy", "scikit-learn", "pandas", "skops", "fastapi", "uvicorn"], scratch, "naive"
        )
        results["venv_mib"] = {"installed": installed, "runtime": runtime, "naive": naive}
    if image:
        results["container"] = container_figures(image)
    return results


def report(results: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Serving benchmarks",
        "",
        f"Measured by `make bench-serve` (`python bench/serve.py`) on {when}: {os.cpu_count()} "
        "cores shared with other work, Python "
        f"{sys.version.split()[0]}, one server worker, load from wrk on 127.0.0.1 "
        f"({WRK_SECONDS} s per row). Records are rows of the Adult test set. Everything below "
        "was measured side by side in one run; read ratios, not absolute numbers.",
        "",
        "## Latency and throughput over HTTP",
        "",
        "| server | body | connections | p50 (ms) | p99 (ms) | requests/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (name, body, connections), load in results["load"].items():
        lines.append(
            f"| {name} | {body} | {connections} | {load.p50_ms:.2f} | {load.p99_ms:.2f} | "
            f"{load.requests_per_second:,.0f} |"
        )
    lines += [
        "",
        "## The floor: `InferenceSession.run` in-process (no HTTP, no JSON)",
        "",
        "| batch | p50 (ms) | p99 (ms) |",
        "|---|---:|---:|",
    ]
    for batch, (p50, p99) in results["floor"].items():
        lines.append(f"| {batch} | {p50:.3f} | {p99:.3f} |")
    ours = "conveyor-serve (Starlette + onnxruntime)"
    naive = "naive (FastAPI + sklearn pipeline)"
    load = results["load"]
    p50_single = load[(ours, "1 record", 1)].p50_ms
    floor_single = results["floor"]["1 record"][0]
    throughput = load[(ours, "1 record", 16)].requests_per_second
    naive_throughput = load[(naive, "1 record", 16)].requests_per_second
    runtime, naive_venv = results["venv_mib"]["runtime"], results["venv_mib"]["naive"]
    rss = results["rss_mib"]
    rss_growth = (rss["after 10,000"] - rss["after 1,000"]) / rss["after 1,000"]
    budget = 3 * floor_single + 1

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    lines += [
        "",
        "## Footprint and start-up",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| runtime venv as installed (requirements/serve.txt) | "
        f"{results['venv_mib']['installed']:,.0f} MiB |",
        f"| runtime venv as in the image (pruned by scripts/prune-runtime.sh) | "
        f"{runtime:,.0f} MiB |",
        f"| venv with scikit-learn + pandas + skops + FastAPI | {naive_venv:,.0f} MiB |",
        f"| cold start to first 200 on /health, conveyor-serve process | "
        f"{results['cold_start_s'][ours]:.2f} s |",
        f"| cold start to first 200 on /health, naive process | "
        f"{results['cold_start_s'][naive]:.2f} s |",
        f"| conveyor-serve RSS after 1,000 requests | {rss['after 1,000']:.1f} MiB |",
        f"| conveyor-serve RSS after 10,000 requests | {rss['after 10,000']:.1f} MiB |",
    ]
    if "container" in results:
        container = results["container"]
        lines += [
            f"| image size | {container['image_mib']:,.0f} MiB |",
            f"| container cold start to first 200 on /health | "
            f"{container['container_cold_start_s']:.2f} s |",
        ]
    lines += [
        "",
        "## Against the targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| single-record p50 over HTTP <= 3 x floor + 1 ms ({budget:.2f} ms) | "
        f"{p50_single:.2f} ms | {verdict(p50_single <= budget)} |",
        f"| throughput >= 5 x the naive server (16 connections, 1 record) | "
        f"{throughput / naive_throughput:.1f} x | {verdict(throughput >= 5 * naive_throughput)} |",
        f"| runtime venv (as in the image) <= 40% of the naive one | {runtime / naive_venv:.0%} | "
        f"{verdict(runtime <= 0.4 * naive_venv)} |",
        f"| RSS flat (within 10%) from request 1,000 to 10,000 | {rss_growth:+.1%} | "
        f"{verdict(abs(rss_growth) <= 0.10)} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="also measure this image (size, container cold start)")
    parser.add_argument("--write", type=Path, help="write the markdown report here")
    arguments = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk (or brew install wrk)")
    text = report(measure(arguments.image))
    if arguments.write:
        arguments.write.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
