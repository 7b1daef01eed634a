"""The customer page: a lookup form, then a customer's profile (attributes, behaviour,
interests, segments) and the recommendations they would get now, with their reasons."""

from __future__ import annotations

import json

from infogap.server.core.domain import (
    Behaviour,
    Evidence,
    Profile,
    Recommendation,
    RecommendationFilter,
)
from infogap.server.core.errors import FailedPrecondition
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.console.page import (
    Page,
    Query,
    esc,
    link,
    number,
    table,
    when,
)

DEFAULT_COUNT = 10
MAX_COUNT = 100


def customer(core: InfoGap, query: Query) -> Page:
    """The ``/console/customers`` page; ``?user_id=`` looks one up (``catalog``, ``count``
    choose the recommendations shown)."""
    user_id = query.text("user_id")
    catalog = query.text("catalog")
    count = query.integer("count", DEFAULT_COUNT, 1, MAX_COUNT)
    form = _form(user_id, catalog, count)
    if not user_id:
        return Page("Customers", "<h1>Customers</h1>" + form)
    profile = core.profile(user_id)  # NotFound: the error page says so, with a 404
    body = (
        f"<h1>Customer {esc(user_id)}</h1>"
        + form
        + _attributes(profile)
        + _behaviour(profile.behaviour)
        + _interests(profile)
        + _segments(profile)
        + _extra(profile)
        + _recommendations(core, user_id, catalog, count)
    )
    return Page(f"Customer {user_id}", body)


def _form(user_id: str, catalog: str, count: int) -> str:
    return (
        '<form class="lookup" method="get" action="/console/customers">'
        f'<label>User id <input name="user_id" value="{esc(user_id)}" required></label> '
        f'<label>Catalog <input name="catalog" value="{esc(catalog)}" placeholder="default"'
        ' size="10"></label> '
        f'<label>Count <input name="count" value="{count}" size="3"></label> '
        '<button type="submit">Look up</button></form>'
    )


def _attributes(profile: Profile) -> str:
    rows = [(esc(key), esc(value)) for key, value in sorted(profile.attributes.items())]
    return (
        f"<h2>Attributes</h2><p class='muted'>Last written {when(profile.attributes_updated)}.</p>"
        + table(("Attribute", "Value"), rows)
    )


def _behaviour(behaviour: Behaviour) -> str:
    rfm = behaviour.rfm
    recency = "-" if rfm.recency_days is None else f"{number(rfm.recency_days, 3)} days"
    facts = (
        f"<p>{behaviour.event_count:,} events, first {when(behaviour.first_seen)}, last "
        f"{when(behaviour.last_seen)}, active on {behaviour.active_days} day(s). Recency {recency}, "
        f"frequency {rfm.frequency}, monetary {number(rfm.monetary, 6)}.</p>"
    )
    by_type = table(
        ("Event type", "Events", "Value"),
        [
            (esc(c.type), f"{c.count:,}", number(c.value_sum, 6))
            for c in behaviour.event_type_counts
        ],
        numeric=(1, 2),
    )
    catalogs = table(
        ("Catalog", "Events", "Distinct items"),
        [
            (esc(a.catalog), f"{a.event_count:,}", f"{a.distinct_item_count:,}")
            for a in behaviour.catalog_activities
        ],
        numeric=(1, 2),
    )
    windows = table(
        ("Last days", "Events", "By type"),
        [
            (
                str(w.days),
                f"{w.event_count:,}",
                esc(", ".join(f"{c.type} {c.count}" for c in w.event_type_counts)),
            )
            for w in behaviour.windows
        ],
        numeric=(0, 1),
    )
    return "<h2>Behaviour</h2>" + facts + by_type + catalogs + windows


def _interests(profile: Profile) -> str:
    rows = [(esc(i.feature), number(i.score), f"{i.evidence_count:,}") for i in profile.interests]
    return "<h2>Interests</h2>" + table(("Feature", "Score", "Evidence"), rows, numeric=(1, 2))


def _segments(profile: Profile) -> str:
    if not profile.segments:
        return '<h2>Segments</h2><p class="muted">In no segment.</p>'
    items = "".join(
        f'<li class="segment">{link("/segments/" + s.name, s.name)} '
        f'<span class="muted">({esc(s.kind)})</span></li>'
        for s in profile.segments
    )
    return f'<h2>Segments</h2><ul id="segments">{items}</ul>'


def _extra(profile: Profile) -> str:
    if not profile.extra:
        return ""
    rows = [
        (esc(name), f"<code>{esc(json.dumps(value, default=str, sort_keys=True))}</code>")
        for name, value in sorted(profile.extra.items())
    ]
    return "<h2>Plugin sections</h2>" + table(("Section", "Value"), rows)


def _recommendations(core: InfoGap, user_id: str, catalog: str, count: int) -> str:
    try:
        recommendation = core.recommend(
            user_id,
            catalog,
            count,
            RecommendationFilter(),
            include_seen=False,
            log_impression=False,  # looking is not an exposure: no experiment counts it
        )
    except FailedPrecondition as error:
        return f'<h2>Recommendations</h2><p class="muted">{esc(error.message)}</p>'
    return "<h2>Recommendations now</h2>" + _served(recommendation)


def _served(recommendation: Recommendation) -> str:
    experiment = (
        f" in experiment {link('/experiments/' + recommendation.experiment, recommendation.experiment)}"
        f" (variant {esc(recommendation.variant)})"
        if recommendation.experiment
        else ""
    )
    rows = [
        (
            str(rank),
            f'<span class="recommended-item">{esc(item.item_id)}</span>',
            number(item.score),
            esc(item.reason),
            esc("; ".join(_evidence(e) for e in item.evidence)),
        )
        for rank, item in enumerate(recommendation.items, start=1)
    ]
    return (
        f"<p>Model version <code>{esc(recommendation.model_version)}</code>, strategy "
        f"<code>{esc(recommendation.strategy)}</code>{experiment}. A preview: not logged as "
        "served.</p>" + table(("#", "Item", "Score", "Reason", "Evidence"), rows, numeric=(0, 2))
    )


def _evidence(evidence: Evidence) -> str:
    weight = number(evidence.weight, 3)
    if evidence.item_id:
        return f"{evidence.event_type or 'interacted with'} {evidence.item_id} ({weight})"
    return f"{evidence.feature} ({weight})"
