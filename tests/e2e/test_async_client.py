"""The asyncio client against a real server."""

from __future__ import annotations

import asyncio

import pytest

from infogap.client import AsyncClient, NotFoundError
from infogap.v1.admin_service_pb2 import EXPERIMENT_STATUS_RUNNING, EXPERIMENT_STATUS_STOPPED

from ..synthetic import TwoTastes


def test_async_client_round_trip(server, tastes: TwoTastes):
    async def scenario() -> None:
        async with AsyncClient(server.address, timeout=30) as client:
            await client.upsert_users(tastes.users)
            await client.upsert_items(tastes.items)
            stored = await client.stream_events([tastes.events[:200], tastes.events[200:]])
            assert stored.stored_count == len(tastes.events) and stored.batch_count == 2
            await client.train()
            # Concurrent calls on one channel.
            red, blue = await asyncio.gather(
                client.recommend("red-user-0", count=3), client.recommend("blue-user-0", count=3)
            )
            assert {i.item_id.split("-")[0] for i in red.items} == {"red"}
            assert {i.item_id.split("-")[0] for i in blue.items} == {"blue"}
            assert (await client.profile("red-user-0")).behaviour.event_count == 10
            with pytest.raises(NotFoundError):
                await client.profile("nobody")

    asyncio.run(scenario())


def test_async_client_runs_an_experiment_and_an_evaluation(server, tastes: TwoTastes):
    async def scenario() -> None:
        async with AsyncClient(server.address, timeout=60) as client:
            await client.upsert_users(tastes.users)
            await client.upsert_items(tastes.items)
            await client.record(tastes.events)
            await client.train()
            variants = [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]
            await client.create_experiment("async", variants)
            assert (await client.start_experiment("async")).status == EXPERIMENT_STATUS_RUNNING
            served = await client.recommend("red-user-0", count=3)
            assert served.experiment == "async" and served.variant in {"a", "b"}
            report = await client.experiment_report("async")
            assert sum(v.impressions for v in report.variants) == 3
            assert (await client.stop_experiment("async")).status == EXPERIMENT_STATUS_STOPPED
            assert [e.name for e in await client.list_experiments()] == ["async"]
            evaluation = await client.evaluate_models(candidates=["popularity"], k=5, max_users=5)
            assert [c.candidate for c in evaluation.candidates] == ["popularity"]

    asyncio.run(scenario())
