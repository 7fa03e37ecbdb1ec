"""Row-by-row checks for sources that deliver text or JSON (files, HTTP APIs).

Each delivered record is converted column by column against the contract; the first rule
it breaks sends it to quarantine with its line number and raw content, otherwise it
becomes one COPY text line for raw (contract columns, ``_extra``, ``_source_row``, hash).
Keys must be unique within one delivery (a file, or one API extraction).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from ingest.config import EntityContract
from ingest.landing import Rejected
from ingest.values import NULL, BadValue, converter, copy_text, future_check


class RowChecker:
    def __init__(self, entity: EntityContract, future_limit: datetime) -> None:
        self.entity = entity
        self.names = entity.column_names
        self.converters = [converter(c) for c in entity.columns]
        self.future = [
            (i, c.name, future_check(c, future_limit))
            for i, c in enumerate(entity.columns)
            if c.not_future
        ]
        self.future_limit = future_limit
        self.key_positions = [self.names.index(k) for k in entity.primary_key]
        self.seen: dict[tuple[str, ...], int] = {}
        self.source: str | None = None

    def new_delivery(self, source: str) -> None:
        """Start a new file or extraction: keys need only be unique within one."""
        self.seen = {}
        self.source = source

    def record_key(self, values: Mapping[str, object]) -> str:
        return "|".join(
            "" if values.get(k) is None else str(values.get(k)) for k in self.entity.primary_key
        )

    def reject(
        self,
        rule: str,
        message: str,
        row_number: int,
        raw: str | None,
        key: str | None = None,
        column: str | None = None,
    ) -> Rejected:
        return Rejected(rule, message, row_number, key, column, raw, self.source)

    def check(
        self,
        values: Mapping[str, object],
        row_number: int,
        raw: str,
        extra: Mapping[str, object] | None = None,
    ) -> str | Rejected:
        """The COPY line for a good record, or why it is refused."""
        fields: list[str] = []
        for name, convert in zip(self.names, self.converters, strict=True):
            try:
                fields.append(convert(values.get(name)))
            except BadValue as exc:
                return self.reject(
                    exc.rule, str(exc), row_number, raw, self.record_key(values), exc.column
                )
        for position, name, is_future in self.future:
            if is_future(fields[position]):
                return self.reject(
                    "future_date",
                    f"{name}={fields[position]} is later than the interval allows "
                    f"(after {self.future_limit:%Y-%m-%d %H:%M})",
                    row_number,
                    raw,
                    self.record_key(values),
                    name,
                )
        key = tuple(fields[i] for i in self.key_positions)
        first = self.seen.get(key)
        if first is not None:
            return self.reject(
                "duplicate_key",
                f"key {dict(zip(self.entity.primary_key, key, strict=True))} already delivered "
                f"in row {first} of the same delivery",
                row_number,
                raw,
                self.record_key(values),
            )
        self.seen[key] = row_number
        body = "\t".join(fields)
        extra_text = (
            copy_text(json.dumps(dict(extra), ensure_ascii=False, default=str)) if extra else NULL
        )
        digest = int.from_bytes(
            hashlib.blake2b(body.encode(), digest_size=8).digest(), "big", signed=True
        )
        return f"{body}\t{extra_text}\t{row_number}\t{digest}\n"
