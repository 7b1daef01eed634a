"""The asyncio client against a real server."""

from __future__ import annotations

import asyncio

import pytest

from infogap.client import AsyncClient, NotFoundError

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
