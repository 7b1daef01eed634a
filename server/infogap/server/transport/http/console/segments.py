"""The segment pages: every segment with its size, and one segment's members, a page at a
time (the core's page tokens, passed along as ``?page=``)."""

from __future__ import annotations

from infogap.server.core.errors import NotFound
from infogap.server.core.service import InfoGap
from infogap.server.transport.http.console.page import Page, Query, esc, link, table

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # the core's limit of SegmentMembers


def segments(core: InfoGap, query: Query) -> Page:
    """The ``/console/segments`` page."""
    rows = [
        (
            link("/segments/" + s.name, s.name),
            esc(s.kind),
            f'<span class="segment-size">{s.size:,}</span>',
            f"<code>{esc(s.rule)}</code>" if s.rule else "",
            esc(s.description),
        )
        for s in core.list_segments()
    ]
    headers = ("Segment", "Kind", "Members", "Rule", "Description")
    return Page("Segments", "<h1>Segments</h1>" + table(headers, rows, numeric=(2,)))


def segment(core: InfoGap, query: Query, name: str) -> Page:
    """The ``/console/segments/<name>`` page: its definition, size and a page of members."""
    page_size = query.integer("page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page_token = query.text("page")
    found = [s for s in core.list_segments() if s.name == name]
    if not found:
        raise NotFound(f"no segment named {name!r}")
    definition = found[0]
    members, next_token = core.segment_members(name, page_size, page_token)
    rows = [(link("/customers", user_id, user_id=user_id),) for user_id in members]
    more = (
        "<p>"
        + link("/segments/" + name, "Next page", page=next_token, page_size=page_size)
        + "</p>"
        if next_token
        else ""
    )
    rule = f"<p>Rule <code>{esc(definition.rule)}</code></p>" if definition.rule else ""
    body = (
        f"<h1>Segment {esc(name)}</h1>"
        f'<p>{esc(definition.kind)} segment of <strong id="segment-size">{definition.size:,}'
        f"</strong> members. {esc(definition.description)}</p>"
        + rule
        + f"<h2>Members ({len(members)} shown)</h2>"
        + table(("User",), rows)
        + more
    )
    return Page(f"Segment {name}", body)
