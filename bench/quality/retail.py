"""The retail purchase log of the quality benchmark: the Instacart order sample
(``fetch-instacart-sample``: 593 households, 14,190 products, 150,000 order lines).

It is the closest of the shared data sets to the issue's "a few thousand households, tens of
thousands of products with departments and categories, over a million purchases with amounts":
fewer households and purchases, no departments, categories or amounts. The CDNOW log
(``fetch-cdnow``) has amounts but no product ids, so it cannot be used to recommend.

Protocol: each household's last order is "the next period"; every earlier order of every
household is the training data; the test of a household is the products of its last order that
it never bought before (households without any are not evaluated).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, Events

EVENT_TYPE = "purchase"
# The sample's times are days since each household's own first order; they are laid out from
# this instant (2017-01-01), with the order's hour of the day.
ORIGIN_SECONDS = 1_483_228_800
MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class RetailSplit:
    data: Dataset
    train: Events  # every order line before each household's last order
    relevant: dict[int, set[int]]  # the new products of each household's last order
    test_lines: int  # the order lines of the last orders, new products or not


def load_instacart(folder: Path) -> tuple[Dataset, np.ndarray]:
    """The sample as a data set of purchases (value 1), and each line's order number."""
    with open(folder / "events.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    user_ids = sorted({r["user_id"] for r in rows}, key=int)
    item_ids = sorted({r["item_id"] for r in rows}, key=int)
    user_index = {u: i for i, u in enumerate(user_ids)}
    item_index = {p: i for i, p in enumerate(item_ids)}
    seconds = np.array(
        [
            ORIGIN_SECONDS + int(r["day"]) * 86_400 + int(r["order_hour_of_day"]) * 3_600
            for r in rows
        ],
        dtype=np.int64,
    )
    # Lines of one order share a time; the cart position keeps them apart and in order.
    cart = np.array([int(r["add_to_cart_order"]) for r in rows], dtype=np.int64)
    count = len(rows)
    data = Dataset(
        user_ids=user_ids,
        user_attributes=[{} for _ in user_ids],
        item_ids=item_ids,
        item_tags=[[] for _ in item_ids],
        item_attributes=[{} for _ in item_ids],
        event_types=[EVENT_TYPE],
        events=Events(
            row=np.arange(count, dtype=np.int64),
            user=np.array([user_index[r["user_id"]] for r in rows], dtype=np.int64),
            item=np.array([item_index[r["item_id"]] for r in rows], dtype=np.int64),
            type=np.zeros(count, dtype=np.int64),
            value=np.ones(count),
            time_us=seconds * MICROSECONDS + cart,
            positive=np.ones(count, dtype=bool),
        ),
        positives_described="every purchase",
    )
    return data, np.array([int(r["order_number"]) for r in rows], dtype=np.int64)


def split_last_order(folder: Path) -> RetailSplit:
    data, order_number = load_instacart(folder)
    events = data.events
    last = np.zeros(data.user_count, dtype=np.int64)
    np.maximum.at(last, events.user, order_number)
    in_test = order_number == last[events.user]
    train, test = events.where(~in_test), events.where(in_test)
    bought = train.items_by_user()
    relevant = {}
    for user, items in test.items_by_user().items():
        new = items - bought.get(user, set())
        if new:
            relevant[user] = new
    return RetailSplit(data, train, relevant, len(test))
