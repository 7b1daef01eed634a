"""The load generator: grpc.aio with a fixed number of requests in flight, run in a process of
its own and printing its figures as JSON on stdout.

    python -m bench.load recommend --target infogap=127.0.0.1:5001 --target bare=127.0.0.1:5002 \\
        --dataset DIR --users USERS.txt --concurrency 16 --requests 3000 --rounds 5
    python -m bench.load record --target ingest=127.0.0.1:5003 --dataset DIR \\
        --batch-size 500 --concurrency 8 --requests 200 --rounds 3 --seed 7

Every request is built before the clock starts, so the rounds time the server and the gRPC
stack, not this process's own Python. Each round sends exactly ``--requests`` calls; a call that
fails is counted, not retried. The median round (by throughput) is reported with its latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.v1 import entities_pb2, feedback_service_pb2, recommend_service_pb2
from infogap.v1.feedback_service_pb2_grpc import FeedbackServiceStub
from infogap.v1.recommend_service_pb2_grpc import RecommendServiceStub

from . import REPO_ROOT, workload

CALL_TIMEOUT_SECONDS = 30.0
ROUND_TIMEOUT_SECONDS = 120.0
# A whole run (warm-up, rounds, building the requests) is bounded too.
RUN_TIMEOUT_SECONDS = 600.0
RECOMMEND_COUNT = 10

Send = Callable[[int], Awaitable[Any]]


@dataclass(frozen=True)
class Round:
    calls: int  # successful calls
    errors: int
    seconds: float
    calls_per_second: float
    units_per_second: float  # events/s for RecordEvents, = calls/s for Recommend
    p50_ms: float
    p99_ms: float


async def timed_round(send: Send, calls: int, concurrency: int, units_per_call: int) -> Round:
    """Sends ``calls`` requests (``send(i)`` for i in 0..calls-1) with ``concurrency`` in flight."""
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def sender() -> None:
        nonlocal next_index, errors
        while next_index < calls:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                await send(index)
            except grpc.RpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(sender() for _ in range(concurrency))), ROUND_TIMEOUT_SECONDS
    )
    seconds = time.perf_counter() - started
    done = len(latencies)
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000 if latencies else (float("nan"),) * 2
    return Round(
        calls=done,
        errors=errors,
        seconds=seconds,
        calls_per_second=done / seconds,
        units_per_second=done * units_per_call / seconds,
        p50_ms=float(p50),
        p99_ms=float(p99),
    )


def median_round(rounds: Sequence[Round]) -> Round:
    """The round of median throughput (the lower middle one for an even count)."""
    ordered = sorted(rounds, key=lambda r: r.calls_per_second)
    return ordered[(len(ordered) - 1) // 2]


def summary(rounds: Sequence[Round]) -> dict[str, Any]:
    return {"median": asdict(median_round(rounds)), "rounds": [asdict(r) for r in rounds]}


def parse_targets(specs: Sequence[str]) -> dict[str, str]:
    """``name=host:port`` pairs, in the order given."""
    targets = {}
    for spec in specs:
        name, _, address = spec.partition("=")
        if not address:
            raise SystemExit(f"--target must be name=host:port, got {spec!r}")
        targets[name] = address
    return targets


def balanced_channel(address: str) -> grpc.aio.Channel:
    """A channel to one server, or, for ``host:port,host:port``, to several, balanced round
    robin by gRPC itself (client-side balancing, as a CRM backend would run it)."""
    if "," not in address:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.insecure_channel(
        f"ipv4:{address}", options=[("grpc.lb_policy_name", "round_robin")]
    )


# -- Recommend -------------------------------------------------------------------------------


def recommend_requests(
    users: Sequence[str], count: int, rng: random.Random
) -> list[recommend_service_pb2.RecommendRequest]:
    return [
        recommend_service_pb2.RecommendRequest(user_id=user_id, count=RECOMMEND_COUNT)
        for user_id in rng.choices(users, k=count)
    ]


async def benchmark_recommend(args: argparse.Namespace) -> dict[str, Any]:
    """Rounds alternate between the targets (and their order flips every round), so a noisy
    neighbour on the machine weighs on every target alike."""
    targets = parse_targets(args.target)
    users = args.users.read_text().split() if args.users else workload.user_ids(args.dataset)
    rng = random.Random(args.seed)
    channels = {name: balanced_channel(address) for name, address in targets.items()}
    try:
        stubs = {name: RecommendServiceStub(channel) for name, channel in channels.items()}
        rounds: dict[str, list[Round]] = {name: [] for name in targets}

        async def run(name: str, calls: int) -> Round:
            requests = recommend_requests(users, calls, rng)
            recommend = stubs[name].Recommend
            return await timed_round(
                lambda i: recommend(requests[i], timeout=CALL_TIMEOUT_SECONDS),
                calls,
                args.concurrency,
                units_per_call=1,
            )

        for name in targets:
            await run(name, args.warmup)
        for round_index in range(args.rounds):
            order = list(targets) if round_index % 2 == 0 else list(reversed(targets))
            for name in order:
                rounds[name].append(await run(name, args.requests))
        return {name: summary(name_rounds) for name, name_rounds in rounds.items()}
    finally:
        for channel in channels.values():
            await channel.close()


# -- RecordEvents ----------------------------------------------------------------------------


def record_requests(
    events: workload.SyntheticEvents, batch_size: int
) -> list[feedback_service_pb2.RecordEventsRequest]:
    messages = [
        entities_pb2.Event(
            event_id=event_id,
            user_id=user_id,
            item_id=item_id,
            type=event_type,
            value=value,
            time=Timestamp(seconds=seconds),
        )
        for event_id, user_id, item_id, event_type, value, seconds in zip(
            events.event_ids,
            events.user_ids,
            events.item_ids,
            events.types,
            events.values,
            events.times,
        )
    ]
    return [
        feedback_service_pb2.RecordEventsRequest(events=messages[start : start + batch_size])
        for start in range(0, len(messages), batch_size)
    ]


async def benchmark_record(args: argparse.Namespace) -> dict[str, Any]:
    """Every round (and the warm-up) sends events never sent before: each gets its own seed."""
    (address,) = parse_targets(args.target).values()
    users = workload.user_ids(args.dataset)
    items = workload.item_ids(args.dataset)
    batches = [
        record_requests(
            workload.round_events(args.seed, i, calls * args.batch_size, users, items),
            args.batch_size,
        )
        for i, calls in enumerate(workload.round_sizes(args.warmup, args.requests, args.rounds))
    ]
    not_stored = 0
    async with grpc.aio.insecure_channel(address) as channel:
        record = FeedbackServiceStub(channel).RecordEvents

        def sender_of(requests: list[feedback_service_pb2.RecordEventsRequest]) -> Send:
            async def send(index: int) -> None:
                nonlocal not_stored
                response = await record(requests[index], timeout=CALL_TIMEOUT_SECONDS)
                not_stored += len(requests[index].events) - response.stored_count

            return send

        rounds = [
            await timed_round(sender_of(requests), len(requests), args.concurrency, args.batch_size)
            for requests in batches
        ]
    # Every event is new, so an acknowledged event that was not stored would be a bug.
    return {**summary(rounds[1:]), "events_not_stored": not_stored}


# -- running it from the orchestrator --------------------------------------------------------


def run_load_generator(command: str, *options: str) -> dict[str, Any]:
    """Runs ``python -m bench.load COMMAND OPTIONS`` in a subprocess; returns its JSON."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.load", command, *options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed ({completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["recommend", "record"])
    parser.add_argument("--target", action="append", required=True, help="name=host:port")
    parser.add_argument("--dataset", type=Path, required=True, help="MovieLens CSV folder")
    parser.add_argument(
        "--users", type=Path, help="Recommend: file of user ids, one a line (default: dataset's)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    parser.add_argument("--requests", type=int, default=3000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=500, help="calls before the first round")
    parser.add_argument("--batch-size", type=int, default=500, help="events per RecordEvents")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    benchmark = benchmark_recommend if args.command == "recommend" else benchmark_record
    print(json.dumps(asyncio.run(benchmark(args))))


if __name__ == "__main__":
    main()
