"""Checking source values against their contract type and writing them as COPY text.

Files and APIs deliver text (or JSON, or Arrow values); Postgres would refuse a bad value by
failing the whole COPY, so each value is parsed here first and written back in a canonical
form Postgres reads unambiguously. A value that does not parse raises ``BadValue`` with the
rule it broke, which becomes a quarantine row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from ingest.config import Column

INT_RANGES = {
    "smallint": 2**15,
    "integer": 2**31,
    "int": 2**31,
    "bigint": 2**63,
}
_TRUE = {"t", "true", "1", "y", "yes"}
_FALSE = {"f", "false", "0", "n", "no"}
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


class BadValue(ValueError):
    """A value that breaks its column's contract; ``rule`` names the quarantine rule."""

    def __init__(self, rule: str, column: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.column = column


def copy_text(value: str) -> str:
    """A text value escaped for COPY's text format."""
    return value.translate(_COPY_ESCAPES)


def _int(column: Column) -> Callable[[object], str]:
    bound = INT_RANGES.get(column.type.lower(), 2**63)

    def convert(value: object) -> str:
        if isinstance(value, bool):
            raise ValueError("a boolean is not an integer")
        if isinstance(value, int):
            number = value
        elif (isinstance(value, str) and value.strip().lstrip("+-").isdigit()) or (
            isinstance(value, Decimal | float) and value == int(value)
        ):
            number = int(value)
        else:
            raise ValueError("not an integer")
        if not -bound <= number < bound:
            raise ValueError(f"out of range for {column.type}")
        return str(number)

    return convert


def _numeric(column: Column) -> Callable[[object], str]:
    limits = column.numeric_limits

    def convert(value: object) -> str:
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        try:
            number = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not number.is_finite():
            raise ValueError("not a finite number")
        if limits:
            precision, scale = limits
            whole = abs(number).to_integral_value(rounding="ROUND_FLOOR")
            if len(str(whole).lstrip("0")) > precision - scale:
                raise ValueError(f"too large for {column.type}")
        return format(number, "f")

    return convert


def _date(value: object) -> str:
    if isinstance(value, datetime):
        raise ValueError("a timestamp where a date is expected")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError("not a date")
    return date.fromisoformat(value.strip()).isoformat()


def _timestamp(value: object) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip())
    else:
        raise ValueError("not a timestamp")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # sources deliver UTC unless they say otherwise
    return moment.isoformat()


def _bool(value: object) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value).strip().lower()
    if text in _TRUE:
        return "t"
    if text in _FALSE:
        return "f"
    raise ValueError("not a boolean")


def _text(value: object) -> str:
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        raise ValueError("holds a NUL character")
    return copy_text(value)


def converter(column: Column) -> Callable[[object], str]:
    """A function from a delivered value to its COPY text; raises BadValue."""
    family = column.family
    parse: Callable[[object], str] = {
        "int": _int(column),
        "numeric": _numeric(column),
        "date": _date,
        "timestamp": _timestamp,
        "bool": _bool,
        "text": _text,
    }[family]
    name, nullable = column.name, column.nullable

    def convert(value: object) -> str:
        if value is None or (value == "" and family != "text"):
            if nullable:
                return NULL
            raise BadValue("required_missing", name, f"{name} is required but empty")
        try:
            return parse(value)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise BadValue(
                "wrong_type", name, f"{name}={shown} is not a valid {column.type}: {exc}"
            ) from None

    return convert


def future_check(column: Column, limit: datetime) -> Callable[[str], bool]:
    """True when a converted (COPY text) value lies after ``limit``: an impossible event."""
    if column.family == "date":
        last = limit.date().isoformat()
        return lambda text: text != NULL and text > last
    return lambda text: text != NULL and datetime.fromisoformat(text) > limit
