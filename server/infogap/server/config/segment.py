"""The ``[segment]`` section: how Segment-spec messages (Segment, RudderStack, any sender of
that JSON) become InfoGap users and events on the HTTP port's ``/v1/*`` routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

UserIdField = Literal["userId", "anonymousId"]


def _default_user_id_fields() -> list[UserIdField]:
    return ["userId", "anonymousId"]


class SegmentEventMapping(BaseModel):
    """How one Segment event name becomes InfoGap events.

    Paths are dotted keys into the message (``properties.product_id``); with ``each``, the
    ``item``, ``value`` and ``quantity`` paths are read from every element of that list instead
    (one event per element, ids ``{messageId}:{index}``).
    """

    type: str = Field(description="The InfoGap event type (one of event_types).")
    item: str = Field(
        default="properties.product_id", description="Path of the item id (string or integer)."
    )
    each: str | None = Field(
        default=None,
        description='Path of a list (e.g. "properties.products"): one event per element.',
    )
    value: str | None = Field(
        default=None, description="Path of the event's value (a number); None: value 0."
    )
    quantity: str | None = Field(
        default=None,
        description="Path of a quantity the value is multiplied by (1 when the message has none).",
    )
    value_required: bool = Field(
        default=False,
        description="Refuse a message without the value (ratings); otherwise it counts 0.",
    )
    item_optional: bool = Field(
        default=False,
        description="A message without the item is skipped and counted (pages that show no "
        "product); otherwise it is refused.",
    )
    catalog: str | None = Field(default=None, description="None: segment.catalog.")


def _default_events() -> dict[str, SegmentEventMapping]:
    # Segment's e-commerce spec (connections/spec/ecommerce/v2).
    return {
        "Product Viewed": SegmentEventMapping(type="view"),
        "Product Clicked": SegmentEventMapping(type="click"),
        "Product Added": SegmentEventMapping(
            type="add_to_cart", value="properties.price", quantity="properties.quantity"
        ),
        "Order Completed": SegmentEventMapping(
            type="purchase",
            each="properties.products",
            item="product_id",
            value="price",
            quantity="quantity",
        ),
        "Product Reviewed": SegmentEventMapping(
            type="rating", value="properties.rating", value_required=True
        ),
    }


def _default_page() -> SegmentEventMapping:
    return SegmentEventMapping(type="view", item_optional=True)


class SegmentSettings(BaseModel):
    """The Segment tracking API (``POST /v1/track``, ``/v1/identify``, ``/v1/page``,
    ``/v1/screen``, ``/v1/batch``) and its mapping to InfoGap."""

    enabled: bool = Field(default=True, description="Serve /v1/* on the HTTP port.")
    catalog: str = Field(default="", description="The catalog of mapped events; empty: default.")
    user_id_fields: list[UserIdField] = Field(
        default_factory=_default_user_id_fields,
        min_length=1,
        description="Message fields naming the InfoGap user, first non-empty wins.",
    )
    events: dict[str, SegmentEventMapping] = Field(
        default_factory=_default_events,
        description="Track event names and what they become; other names are counted as "
        "unknown and reported, not stored.",
    )
    page: SegmentEventMapping | None = Field(
        default_factory=_default_page,
        description="What page and screen calls become; None: counted as ignored.",
    )
    traits: list[str] | None = Field(
        default=None, description="Identify traits kept as user attributes; None: all."
    )
    exclude_traits: list[str] = Field(
        default_factory=lambda: [
            "email",
            "phone",
            "name",
            "firstName",
            "lastName",
            "address",
            "birthday",
        ],
        description="Traits never kept (contact details a recommender does not need).",
    )
    recommendation_id: str | None = Field(
        default="properties.recommendation_id",
        description="Path of the recommendation id an event answers (experiment attribution).",
    )

    @field_validator("user_id_fields")
    @classmethod
    def _distinct_fields(cls, value: list[UserIdField]) -> list[UserIdField]:
        if len(set(value)) != len(value):
            raise ValueError("segment.user_id_fields must not repeat a field")
        return value
