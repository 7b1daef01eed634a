"""Small generated data sets with planted structure, for tests that need a trained model fast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TwoTastes:
    """Two user groups with opposite tastes: group "red" likes red items, "blue" likes blue."""

    users: list[dict]
    items: list[dict]
    events: list[dict]

    @staticmethod
    def user_group(user_id: str) -> str:
        return user_id.split("-")[0]


def two_tastes(users_per_group: int = 30, items_per_colour: int = 20, seed: int = 7) -> TwoTastes:
    rng = np.random.default_rng(seed)
    users, items, events = [], [], []
    for colour in ("red", "blue"):
        for i in range(items_per_colour):
            items.append(
                {
                    "item_id": f"{colour}-item-{i}",
                    "tags": [colour],
                    "attributes": {"colour": colour},
                }
            )
        for u in range(users_per_group):
            users.append({"user_id": f"{colour}-user-{u}", "attributes": {"segment": colour}})
    for user in users:
        colour = user["attributes"]["segment"]
        liked = rng.choice(items_per_colour, size=items_per_colour // 2, replace=False)
        for n, i in enumerate(liked):
            events.append(
                {
                    "event_id": f"{user['user_id']}-{colour}-{i}",
                    "user_id": user["user_id"],
                    "item_id": f"{colour}-item-{i}",
                    "type": "purchase",
                    "value": 10.0,
                    "time": BASE_TIME + timedelta(minutes=n),
                }
            )
    return TwoTastes(users, items, events)
