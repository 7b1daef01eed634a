"""The segment rule language: parsed (with lark) and checked when a segment is defined, so a
stored rule can always be evaluated.

    rfm.recency_days <= 30 AND interest.tag:Comedy >= 0.3
    attribute.plan = "gold" OR NOT (count_30d.purchase < 2)

A rule compiles to a predicate over ``ProfileFacts``. A comparison whose value is missing (an
attribute the user lacks, no events for recency) is false; interests and counts default to 0.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedInput, v_args

from infogap.server.core.domain import ProfileFacts
from infogap.server.core.errors import InvalidArgument

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*       -> any_of
?and_expr: not_expr (_AND not_expr)*     -> all_of
?not_expr: _NOT not_expr                 -> negation
         | atom
?atom: comparison
     | "(" or_expr ")"
comparison: FIELD OP value
?value: SIGNED_NUMBER                    -> number
      | ESCAPED_STRING                   -> string
FIELD: /[A-Za-z_][A-Za-z0-9_]*\.[^\s()=!<>"]+/
OP: "<=" | ">=" | "!=" | "=" | "<" | ">"
_AND: /AND\b/i
_OR: /OR\b/i
_NOT: /NOT\b/i
%import common.SIGNED_NUMBER
%import common.ESCAPED_STRING
%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NUMERIC_FIELDS: dict[str, Callable[[ProfileFacts], float | None]] = {
    "rfm.recency_days": lambda f: f.recency_days,
    "rfm.frequency": lambda f: f.frequency,
    "rfm.monetary": lambda f: f.monetary,
    "behaviour.event_count": lambda f: f.event_count,
    "behaviour.active_days": lambda f: f.active_days,
}
_WINDOW_COUNT = re.compile(r"count_(\d+)d\.(.+)")

Predicate = Callable[[ProfileFacts], bool]


class _RuleError(Exception):
    def __init__(self, column: int | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column or 1  # lark leaves it unset only for tokens it made up
        self.reason = reason


def _field_getter(
    field: Token, windows: Sequence[int]
) -> tuple[Callable[[ProfileFacts], Any], bool]:
    """How to read a field from facts, and whether it is a string (attributes) or a number."""
    name = str(field)
    if name in _NUMERIC_FIELDS:
        return _NUMERIC_FIELDS[name], False
    prefix, _, rest = name.partition(".")
    if prefix == "attribute":
        return lambda facts: facts.attributes.get(rest), True
    if prefix == "interest":
        return lambda facts: facts.interest_scores.get(rest, 0.0), False
    if prefix == "count":
        return lambda facts: facts.counts_by_type.get(rest, 0), False
    window = _WINDOW_COUNT.fullmatch(name)
    if window:
        days, event_type = int(window.group(1)), window.group(2)
        if days not in windows:
            raise _RuleError(
                field.column, f"no {days}-day window; configured: {', '.join(map(str, windows))}"
            )
        return lambda facts: facts.window_counts.get(days, {}).get(event_type, 0), False
    raise _RuleError(
        field.column,
        f"unknown field {name!r}; use attribute.<name>, interest.<feature>, count.<type>, "
        "count_<days>d.<type>, " + ", ".join(_NUMERIC_FIELDS),
    )


@v_args(inline=True)
class _Compiler(Transformer[Token, Predicate]):
    def __init__(self, windows: Sequence[int]) -> None:
        super().__init__()
        self._windows = windows

    def number(self, token: Token) -> tuple[float, Token]:
        return float(token), token

    def string(self, token: Token) -> tuple[str, Token]:
        return token[1:-1].replace('\\"', '"'), token

    def comparison(self, field: Token, op: Token, value: tuple[Any, Token]) -> Predicate:
        getter, is_string = _field_getter(field, self._windows)
        literal, token = value
        if is_string != isinstance(literal, str):
            expected = "a quoted string" if is_string else "a number"
            raise _RuleError(token.column, f"{field} compares with {expected}")
        if is_string and str(op) not in ("=", "!="):
            raise _RuleError(op.column, f"{field} is text: only = and != apply")
        compare = _OPERATORS[str(op)]

        def predicate(facts: ProfileFacts) -> bool:
            actual = getter(facts)
            return actual is not None and compare(actual, literal)

        return predicate

    def negation(self, inner: Predicate) -> Predicate:
        return lambda facts: not inner(facts)

    def all_of(self, *parts: Predicate) -> Predicate:
        return lambda facts: all(part(facts) for part in parts)

    def any_of(self, *parts: Predicate) -> Predicate:
        return lambda facts: any(part(facts) for part in parts)


@dataclass(frozen=True)
class SegmentRule:
    text: str
    matches: Predicate


def compile_rule(text: str, windows: Sequence[int]) -> SegmentRule:
    """Parses and checks a rule.

    :raises InvalidArgument: on field ``rule`` with the 1-based position and the reason.
    """
    if not text.strip():
        raise InvalidArgument("rule", "must not be empty")
    try:
        tree = _PARSER.parse(text)
        return SegmentRule(text, _Compiler(windows).transform(tree))
    except UnexpectedInput as error:
        position, reason = _position_and_reason(error, text)
        raise InvalidArgument("rule", f"position {position}: {reason}") from None
    except _RuleError as error:
        raise InvalidArgument("rule", f"position {error.column}: {error.reason}") from None
    except Exception as error:  # lark wraps transformer errors; unwrap ours
        cause = getattr(error, "orig_exc", None)
        if isinstance(cause, _RuleError):
            raise InvalidArgument("rule", f"position {cause.column}: {cause.reason}") from None
        raise


_TOKEN_NAMES = {
    "SIGNED_NUMBER": "a number",
    "ESCAPED_STRING": "a quoted string",
    "FIELD": "a field",
    "OP": "a comparison (=, !=, <, <=, >, >=)",
    "LPAR": "'('",
    "RPAR": "')'",
    "_NOT": "NOT",
    "_AND": "AND",
    "_OR": "OR",
}


def _position_and_reason(error: UnexpectedInput, text: str) -> tuple[int, str]:
    expected = sorted(_TOKEN_NAMES.get(name, name) for name in getattr(error, "expected", ()) or ())
    hint = f"; expected {' or '.join(expected)}" if expected else ""
    token = getattr(error, "token", None)
    if token is not None and token.type == "$END":
        return len(text.rstrip()) + 1, f"the rule ends too early{hint}"
    column = getattr(error, "column", 1)
    found = str(token) if token is not None else text[getattr(error, "pos_in_stream", 0) or 0]
    return column, f"unexpected {found!r}{hint}"
