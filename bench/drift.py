"""What drift tracking costs: the offline check against the server's live tracker, and the
server with live tracking on against the same server with it off.

Measured side by side in one run, on this checkout's model and the test set's rows:

1. Drift over 10,000 rows. Offline, as `conveyor drift --current FILE` judges a file
   (`conveyor.drift_check.judge`: `feature_drift` for every input of the signature) on 10,000
   rows drawn with replacement from the test set. Live, as the server tracks it
   (`LiveDrift.observe` once per served batch, its folds, then one `snapshot()`), on the same
   rows decoded into columns by the server's own `RequestDecoder`, as single-row batches and
   as 100-row batches.
2. Two conveyor-serve processes, CONVEYOR_DRIFT=on and CONVEYOR_DRIFT=off, one worker each,
   pinned and loaded by wrk exactly as `bench/serve.py` does (its machinery, imported):
   1 record and 100 records per request at 1 and 16 connections, on and off alternating
   within every round so that a slow minute of a shared machine hits both alike; then the
   drift-on server's RSS after 1,000 and 10,000 single-record requests.

    python bench/drift.py --write docs/drift-benchmarks.md     # `make bench-drift`
    python bench/drift.py --quick                               # 1 round of 2 s, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conveyor.atomic import staged_outputs
from conveyor.config import load_settings
from conveyor.drift_check import judge
from conveyor.paths import ProjectPaths
from conveyor.serve.live_drift import LiveDrift
from conveyor.serve.model import OnnxModel
from conveyor.serve.settings import ServeSettings
from conveyor.serve.signature import Signature, load_signature
from conveyor.serve.validation import Batch, RequestDecoder

ROOT = Path(__file__).resolve().parents[1]
# `python bench/drift.py` puts bench/, not the root, on the path; bench.serve is the serving
# benchmark, whose servers, pinning, wrk runs and records this one reuses as they are.
sys.path.insert(0, str(ROOT))
from bench import serve as serving  # noqa: E402
from bench.peers import conveyor  # noqa: E402

ROWS = 10_000
BATCH_ROWS = 100  # the larger body of the HTTP part, and the live tracker's larger batches
SEED = 20261127
OVERHEAD_TARGET = 0.05  # drift on may cost at most 5% of the throughput with it off
SWITCHES = {"on": "on", "off": "off"}  # key in the results -> CONVEYOR_DRIFT


@dataclass(frozen=True)
class Computation:
    """Median milliseconds to get drift numbers for `ROWS` rows, each way."""

    offline_ms: float
    live_single_ms: float  # at the server's sample share
    live_batched_ms: float
    every_row_single_ms: float  # counting every row (CONVEYOR_DRIFT_SAMPLE=1)
    every_row_batched_ms: float
    repeats: int
    window: int
    sample: float


def median_ms(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of `work` over `repeats` calls, after one call to warm caches."""
    work()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def sampled_rows(count: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """`count` test-set rows drawn with replacement: as a file (every column, as
    `conveyor drift` reads it) and as the records a client would post for the same rows."""
    table = pd.read_parquet(ProjectPaths(ROOT).test_data)
    every_record = serving.records(len(table))
    picks = np.random.default_rng(SEED).integers(0, len(table), size=count)
    return table.iloc[picks].reset_index(drop=True), [every_record[i] for i in picks]


def served_batches(
    records: list[dict[str, Any]], size: int, signature: Signature, model: OnnxModel
) -> list[tuple[Batch, list[float]]]:
    """What `observe` receives in the server for `records` posted `size` at a time: the
    decoder's batch and the model's probabilities."""
    decoder = RequestDecoder(signature, ServeSettings().max_batch)
    batches = []
    for start in range(0, len(records), size):
        body = json.dumps(records[start : start + size]).encode()
        batch = decoder.decode(body)
        batches.append((batch, model.probabilities(batch.columns)))
    return batches


def live_tracking(
    batches: list[tuple[Batch, list[float]]], signature: Signature, window: int, sample: float
) -> Callable[[], object]:
    """Every batch observed by a fresh tracker (folding as it goes), then one read."""

    def track() -> object:
        tracker = LiveDrift(signature, window, sample, seed=SEED)
        for batch, probabilities in batches:
            tracker.observe(batch, probabilities)
        return tracker.snapshot()

    return track


def computation(repeats: int) -> Computation:
    """Part 1: drift per `ROWS` rows, offline and live, on the same rows."""
    settings = load_settings(ROOT / "params.yaml")
    document = json.loads(serving.SIGNATURE.read_text())
    signature = load_signature(serving.SIGNATURE)
    model = OnnxModel(serving.MODEL, signature)
    window, sample = ServeSettings().drift_window, ServeSettings().drift_sample
    table, records = sampled_rows(ROWS)

    def offline() -> object:
        return judge(document["reference"], table, settings, "the sample")

    single = served_batches(records, 1, signature, model)
    batched = served_batches(records, BATCH_ROWS, signature, model)
    return Computation(
        offline_ms=median_ms(offline, repeats),
        live_single_ms=median_ms(live_tracking(single, signature, window, sample), repeats),
        live_batched_ms=median_ms(live_tracking(batched, signature, window, sample), repeats),
        every_row_single_ms=median_ms(live_tracking(single, signature, window, 1.0), repeats),
        every_row_batched_ms=median_ms(live_tracking(batched, signature, window, 1.0), repeats),
        repeats=repeats,
        window=window,
        sample=sample,
    )


def drift_answer(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/drift", timeout=10) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
        return answer


def check_switch(url: str, switch: str) -> None:
    """The server tracks drift exactly when it should: after the checked requests, drift on
    counts rows, drift off says it is off."""
    answer = drift_answer(url)
    tracking = bool(answer.get("enabled")) and float(answer.get("rows") or 0) > 0
    if tracking != (switch == "on"):
        raise SystemExit(f"the server with CONVEYOR_DRIFT={switch} answered /drift {answer}")


def serving_overhead(rounds: int) -> dict[str, Any]:
    """Part 2: the two servers under the same load, alternating, then the drift-on RSS."""
    batches = {name: serving.records(count) for name, count in serving.BODIES.items()}
    expected = {name: serving.expected_probabilities(b) for name, b in batches.items()}
    pins = serving.pinning()
    results: dict[str, Any] = {"pinning": pins.note, "rounds": rounds}
    with tempfile.TemporaryDirectory() as scratch_name, ExitStack() as stack:
        scratch = Path(scratch_name)
        servers: dict[str, serving.Running] = {}
        for key, switch in SWITCHES.items():
            print(f"bench: starting conveyor-serve, drift {switch}", file=sys.stderr, flush=True)
            own = scratch / key
            own.mkdir()
            peer = replace(conveyor.peer(own, ROOT), name=f"conveyor-serve, drift {switch}")
            environment = {**serving.server_environment(), "CONVEYOR_DRIFT": switch}
            servers[key] = serving.start_checked(
                peer, stack=stack, env=environment, pins=pins, scratch=own,
                batches=batches, expected=expected,
            )  # fmt: skip
            check_switch(servers[key].url, switch)
        print(f"bench: {rounds} round(s) of load", file=sys.stderr, flush=True)
        failed = serving.load_in_rounds(servers, scratch, pins, rounds)
        if failed:
            raise SystemExit(f"bench: a server failed, no comparison to make: {failed}")
        results["load"] = {key: server.medians() for key, server in servers.items()}
        results["per_round"] = {key: server.rounds for key, server in servers.items()}
        on = servers["on"]
        results["tracked"] = drift_answer(on.url)
        print("bench: RSS over 10,000 requests", file=sys.stderr, flush=True)
        results["sequential"] = {
            key: serving.sequential_requests(server.url, server.group, server.bodies["1 record"])
            for key, server in servers.items()
        }
    return results


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def _throughput_ratio(rounds: dict[str, Any], body: str, connections: int) -> float:
    """Drift on over drift off: the median of their round-by-round ratios (the two runs of a
    round are made back to back, `serving.paired_ratios`)."""
    on, off = rounds["on"][(body, connections)], rounds["off"][(body, connections)]
    return statistics.median(serving.paired_ratios(on, off, lambda load: load.requests_per_second))


def _in_process_share(
    part1: Computation, load: dict[str, Any], body: str, connections: int
) -> float:
    """The tracker's in-process time per request as a share of the drift-off server's time
    per request at this load: the overhead part 1 predicts, free of the load's noise."""
    rows = serving.BODIES[body]
    per_row_ms = (part1.live_single_ms if rows == 1 else part1.live_batched_ms) / ROWS
    requests_per_ms = load["off"][(body, connections)].requests_per_second / 1000
    return float(per_row_ms * rows * requests_per_ms)


def report(part1: Computation, part2: dict[str, Any], command: str, seconds: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = part2["load"]
    lines = [
        "# Drift tracking benchmarks",
        "",
        "conveyor-serve tracks input and prediction drift live (`src/conveyor/serve/"
        "live_drift.py`: one comparison per request with no row drawn, a draw per kept row "
        "and a list append for one with drawn rows, no numpy call; the drawn rows gathered and "
        "counted into their buckets (numpy for numbers, `Counter` for categories) every 1,024 "
        "kept rows and at each read, "
        "`GET /drift` and the drift gauges on `/metrics`), and "
        "`conveyor drift --current FILE` judges a file offline with the same buckets. This page "
        "measures what the live tracking costs a server, against the target of **less than "
        f"{OVERHEAD_TARGET:.0%} of its throughput**, and how that work compares with the "
        "offline check on the same rows. Everything below was measured side by side in one run.",
        "",
        f"Measured on {when} by `{command}`: {machine()}, Python {sys.version.split()[0]}. "
        "The machine is shared with other work and noisy: read medians and ratios, not "
        "absolute numbers.",
        "",
        "Reproduce: `make bench-drift` (installs wrk and taskset on Debian/Ubuntu; a few "
        "minutes), or `python bench/drift.py [--rounds N] [--seconds S] [--repeats N] "
        "[--write FILE]` after `make run`; `--quick` is 1 round of 2 s.",
        "",
        f"## Drift over {ROWS:,} rows, in-process",
        "",
        f"{ROWS:,} rows drawn with replacement from the test set; the median of "
        f"{part1.repeats} repeats after one warm-up. Offline: `judge` from "
        "`conveyor.drift_check` (`feature_drift` for every input of `models/signature.json`) "
        "on the rows as a data frame, as `conveyor drift` reads a file. Live: a fresh "
        f"`LiveDrift` (window {part1.window:,} rows and a sample of {part1.sample:g} of the "
        "rows, the server's defaults, or every row) observing the rows "
        "as the server's `RequestDecoder` decodes them, with the model's probabilities, then "
        "one `snapshot()`; decoding and inference are done beforehand and not timed.",
        "",
        f"| computation | ms per {ROWS:,} rows | µs per row |",
        "|---|---:|---:|",
    ]
    share = f"sample {part1.sample:g}"
    rows = [
        ("offline: `judge` (`feature_drift` per input)", part1.offline_ms),
        (f"live, {share}: `observe` per single-row batch, folds, one `snapshot()`",
         part1.live_single_ms),
        (f"live, {share}: `observe` per {BATCH_ROWS}-row batch, folds, one `snapshot()`",
         part1.live_batched_ms),
        ("live, every row: single-row batches", part1.every_row_single_ms),
        (f"live, every row: {BATCH_ROWS}-row batches", part1.every_row_batched_ms),
    ]  # fmt: skip
    lines += [f"| {label} | {ms:.1f} | {ms / ROWS * 1000:.2f} |" for label, ms in rows]
    lines += [
        "",
        "## conveyor-serve with live drift on and off",
        "",
        "Two conveyor-serve processes, `CONVEYOR_DRIFT=on` and `CONVEYOR_DRIFT=off`, the same "
        f"model and records (the test set's first rows), one worker each, {part2['pinning']}. "
        "Each answered the checked records with onnxruntime's probabilities, and `/drift` "
        "showed tracking on exactly for the first, before any load. For every body and "
        f"concurrency wrk ran {seconds} s against drift on, then drift off (the other way "
        "round every other round, each run once the servers' CPU had gone quiet), "
        f"{part2['rounds']} round(s) over; each figure is the "
        "median of its rounds, and on / off is the median of the round-by-round ratios. "
        "Throughput is requests/s for 1 record, rows/s for 100 records. The last column is the "
        "overhead the in-process figures above predict: the tracker's time per request as a "
        "share of the drift-off server's time per request.",
        "",
        "| body | connections | drift | p50 (ms) | p99 (ms) | throughput | on / off | predicted |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for body, rows_per_request in serving.BODIES.items():
        for connections in serving.CONNECTIONS:
            for key in SWITCHES:
                figures = load[key][(body, connections)]
                throughput = figures.requests_per_second * rows_per_request
                ratio = share = ""
                if key == "on":
                    ratio = f"{_throughput_ratio(part2['per_round'], body, connections):.3f}"
                    share = f"{_in_process_share(part1, load, body, connections):.2%}"
                lines.append(
                    f"| {body} | {connections} | {key} | {figures.p50_ms:.2f} | "
                    f"{figures.p99_ms:.2f} | {throughput:,.0f} | {ratio} | {share} |"
                )
    tracked = part2["tracked"]
    prediction = tracked.get("prediction") or {}
    worst = max(tracked["features"].items(), key=lambda item: item[1]["psi"] or 0.0)
    lines += [
        "",
        f"After the load the drift-on server's `/drift` covered {tracked['rows']:,.0f} "
        f"(decayed) rows over its window of {tracked['window']:,}; the largest input PSI was "
        f"{worst[1]['psi']} (`{worst[0]}`), the predictions' {prediction.get('psi')}: the same "
        "few records over and over, so the numbers are not a drift finding, only proof the "
        "tracker ran under the load.",
        "",
        "| memory | drift on | drift off |",
        "|---|---:|---:|",
    ]
    on, off = part2["sequential"]["on"], part2["sequential"]["off"]
    lines += [
        f"| RSS after 1,000 single-record requests | {on.rss_1000_mib:.1f} MiB "
        f"| {off.rss_1000_mib:.1f} MiB |",
        f"| RSS after 10,000 | {on.rss_10000_mib:.1f} MiB | {off.rss_10000_mib:.1f} MiB |",
        f"| median time per request, requests 1–1,000 (client side) | {on.first_1000_ms:.3f} ms "
        f"| {off.first_1000_ms:.3f} ms |",
        f"| median time per request, requests 9,001–10,000 | {on.last_1000_ms:.3f} ms "
        f"| {off.last_1000_ms:.3f} ms |",
    ]
    lines += _verdict(part1, part2, on)
    lines += ["", *READING]
    return "\n".join(lines) + "\n"


READING = (
    "## Reading these figures",
    "",
    "The tracker's work is per kept row and per input (a bucket lookup for each categorical "
    "value, a binary search for each number), so it weighs most where the server's own work "
    "per row is least: on batches of 100 records, against the decoder's and onnxruntime's few "
    "microseconds a row. The server keeps a random tenth of the rows "
    "(`CONVEYOR_DRIFT_SAMPLE`), which divides that work by ten; the in-process rows above "
    "show both. Under wrk, differences of a few percent between two servers are within this "
    "machine's noise from round to round: the in-process prediction is the steadier figure "
    "for an overhead this small.",
)


def _verdict(part1: Computation, part2: dict[str, Any], on: serving.Sequential) -> list[str]:
    load = part2["load"]
    loads = [(body, connections) for body in serving.BODIES for connections in serving.CONNECTIONS]
    ratios = {combo: _throughput_ratio(part2["per_round"], *combo) for combo in loads}
    predicted = {body: max(_in_process_share(part1, load, body, c) for c in serving.CONNECTIONS)
                 for body in serving.BODIES}  # fmt: skip
    floor = 1 - OVERHEAD_TARGET
    lines = ["", "## Against the target", "", "| load | on / off throughput | |", "|---|---:|---|"]
    for (body, connections), ratio in ratios.items():
        verdict = "met" if ratio >= floor else "**missed**"
        lines.append(f"| {body}, {connections} connection(s) | {ratio:.3f} | {verdict} |")
    growth = (on.rss_10000_mib - on.rss_1000_mib) / on.rss_1000_mib
    slower = on.last_1000_ms / on.first_1000_ms
    worst_load, worst = min(ratios.items(), key=lambda item: item[1])
    met = sum(ratio >= floor for ratio in ratios.values())
    lines += [
        "",
        f"Overhead under {OVERHEAD_TARGET:.0%} of throughput: met for {met} of {len(ratios)} "
        f"loads; the worst ratio was {worst:.3f} ({worst_load[0]}, {worst_load[1]} "
        f"connection(s)). The in-process figures predict an overhead of at most "
        + ", ".join(f"{share:.1%} for {body}" for body, share in predicted.items())
        + f". The drift-on server's RSS moved {growth:+.1%} from request 1,000 to 10,000, and "
        f"its median time per request over the last thousand was {slower:.2f}× the first's.",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="load rounds (default: 5)")
    parser.add_argument(
        "--seconds", type=int, default=serving.WRK_SECONDS,
        help="seconds per wrk run (default: BENCH_WRK_SECONDS, else 5)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=int, default=21, help="repeats of each in-process timing (default: 21)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, 5 repeats")
    parser.add_argument("--write", type=Path, help="write the markdown report here")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.rounds, arguments.seconds, arguments.repeats = 1, 2, 5
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: `make bench-drift` installs it (apt-get install wrk)")
    # bench.serve's wrk runs read their duration from this module attribute at each call.
    serving.WRK_SECONDS = arguments.seconds
    command = "python bench/drift.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"bench: drift over {ROWS:,} rows, in-process", file=sys.stderr, flush=True)
    part1 = computation(arguments.repeats)
    part2 = serving_overhead(arguments.rounds)
    text = report(part1, part2, command.strip(), arguments.seconds)
    print(text)
    if arguments.write:  # whole or not at all: the page is committed as the record of a run
        with staged_outputs() as out:
            out.write_text(arguments.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
