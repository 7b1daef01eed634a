"""What every console page is made of: the request's query, the page shell with its CSS, the
HTML helpers, and the error a page raises for a 400 or 404.

Pages are built as strings with ``html.escape`` on every value that came from data or the
request (``esc``); no template engine, no JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, quote, urlencode

PREFIX = "/console"
MAX_PARAMETER_LENGTH = 256

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2329; background: #f6f7f9; }
header { background: #1d2b3a; color: #fff; padding: 0.6em 1.2em; display: flex; gap: 1.4em;
  align-items: baseline; flex-wrap: wrap; }
header a { color: #cfe1f5; text-decoration: none; } header a:hover { text-decoration: underline; }
header strong { font-size: 1.1em; margin-right: 0.6em; }
main { padding: 1em 1.4em 3em; max-width: 72em; }
h1 { font-size: 1.45em; margin: 0.4em 0 0.6em; } h2 { font-size: 1.15em; margin: 1.4em 0 0.4em; }
table { border-collapse: collapse; background: #fff; margin: 0.4em 0 1em; }
th, td { border: 1px solid #dde2e8; padding: 0.3em 0.65em; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; } td.number { text-align: right; }
.muted { color: #66707a; } .good { color: #19703a; } .bad { color: #a8261b; }
.card { background: #fff; border: 1px solid #dde2e8; padding: 0.6em 1em; margin: 0.6em 0; }
form.lookup input { font: inherit; padding: 0.25em 0.4em; } svg { background: #fff; }
code { background: #eef1f5; padding: 0 0.25em; }
"""

NAVIGATION = (
    ("Overview", "/"),
    ("Customers", "/customers"),
    ("Segments", "/segments"),
    ("Experiments", "/experiments"),
    ("Evaluations", "/evaluations"),
)


class PageError(Exception):
    """A request the console cannot answer with its page: ``status`` is the HTTP status of the
    error page (400 for a bad query parameter, 404 for something that does not exist)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Page:
    """A rendered page: its title and the HTML of its body (inside the shell)."""

    title: str
    body: str


@dataclass(frozen=True)
class Query:
    """The query parameters of a request, read with checks that raise a 400 ``PageError``."""

    values: Mapping[str, Sequence[str]]

    @classmethod
    def parse(cls, query_string: str) -> Query:
        return cls(parse_qs(query_string, keep_blank_values=True))

    def text(self, name: str, default: str = "") -> str:
        """The parameter's value ("" and absent give ``default``)."""
        found = self.values.get(name)
        if not found or found[-1] == "":
            return default
        value = found[-1]
        if len(value) > MAX_PARAMETER_LENGTH:
            raise PageError(400, f"{name} is longer than {MAX_PARAMETER_LENGTH} characters")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """The parameter as a whole number in [low, high]."""
        value = self.text(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise PageError(400, f"{name} must be a whole number, not {value!r}") from None
        if not low <= number <= high:
            raise PageError(400, f"{name} must be between {low} and {high}, not {number}")
        return number


def esc(value: object) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def link(path: str, text: object, **params: str | int) -> str:
    """An ``<a>`` to a console ``path`` (e.g. "/segments/x"; its segments are quoted here)."""
    href = PREFIX + quote(path)
    if params:
        href += "?" + urlencode(params)
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """A table of ``rows`` whose cells are HTML already (escape values with ``esc``);
    ``numeric`` names the columns aligned right."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="number">{cell}</td>' if n in numeric else f"<td>{cell}</td>"
            for n, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not body:
        return '<p class="muted">None.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def when(moment: datetime | None) -> str:
    """A stored time (naive UTC) as text; "-" for none."""
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: float, digits: int = 4) -> str:
    """A measured value, with up to ``digits`` significant digits."""
    return f"{value:.{digits}g}"


def shell(page: Page) -> str:
    """The whole HTML document of ``page``: head, navigation, and its body."""
    navigation = "".join(link(path, name) for name, path in NAVIGATION)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(page.title)} · InfoGap console</title>"
        '<link rel="icon" href="data:,">'  # no favicon request (no 404 in the browser's log)
        f"<style>{STYLE}</style></head><body>"
        f"<header><strong>InfoGap console</strong>{navigation}</header>"
        f"<main>{page.body}</main></body></html>"
    )
