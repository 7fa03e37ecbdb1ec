"""Reader for the Berka ``.asc`` files: checked strictly, parsed vectorised.

Format: ``;``-separated, one header row (``district.asc`` has ``A1..A16``), strings in
double quotes, numbers bare, an empty field either ``""`` or nothing (``;;``), CRLF or LF
line ends, UTF-8 (plain ASCII in practice; cp1250, the Czech Windows code page, is
accepted as a fallback). Dates are ``YYMMDD`` in the 1900s; card ``issued`` is
``YYMMDD hh:mm:ss``.

Every problem raises ``BerkaFormatError`` naming the file, the line number (1 is the
header) and the rule broken: wrong header, wrong field count, unbalanced quotes, a value
of the wrong kind (integer, decimal, date, code list), a duplicate key, or a reference to
a row missing from another file. Field counts are checked on the raw bytes with numpy
before pandas parses, because pandas silently pads short lines.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from sources.berka import decode


class BerkaFormatError(ValueError):
    """A Berka file breaks the format; ``file``, ``line`` and ``rule`` say where and how."""

    def __init__(self, file: str, line: int | None, rule: str) -> None:
        self.file = file
        self.line = line
        self.rule = rule
        where = f"{file}: line {line}" if line is not None else file
        super().__init__(f"{where}: {rule}")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # int | decimal | date | datetime | text | code | birth_number | any
    codes: frozenset[str] | None = None
    required: bool = True  # False: empty allowed (becomes None / NaN)


def _codes(*values: str) -> frozenset[str]:
    return frozenset(values)


SPECS: dict[str, tuple[Field, ...]] = {
    "district": (
        Field("A1", "int"),
        Field("A2", "text"),
        Field("A3", "text"),
        Field("A4", "int"),
        *(Field(f"A{i}", "any", required=False) for i in range(5, 17)),
    ),
    "account": (
        Field("account_id", "int"),
        Field("district_id", "int"),
        Field("frequency", "code", frozenset(decode.FREQUENCY)),
        Field("date", "date"),
    ),
    "client": (
        Field("client_id", "int"),
        Field("birth_number", "birth_number"),
        Field("district_id", "int"),
    ),
    "disp": (
        Field("disp_id", "int"),
        Field("client_id", "int"),
        Field("account_id", "int"),
        Field("type", "code", _codes("OWNER", "DISPONENT")),
    ),
    "trans": (
        Field("trans_id", "int"),
        Field("account_id", "int"),
        Field("date", "date"),
        Field("type", "code", frozenset(decode.DIRECTION)),
        Field("operation", "code", frozenset(decode.OPERATIONS), required=False),
        Field("amount", "decimal"),
        Field("balance", "decimal"),
        Field("k_symbol", "code", frozenset(decode.K_SYMBOLS), required=False),
        Field("bank", "text", required=False),
        Field("account", "text", required=False),
    ),
    "loan": (
        Field("loan_id", "int"),
        Field("account_id", "int"),
        Field("date", "date"),
        Field("amount", "decimal"),
        Field("duration", "int"),
        Field("payments", "decimal"),
        Field("status", "code", frozenset(decode.LOAN_STATUS)),
    ),
    "card": (
        Field("card_id", "int"),
        Field("disp_id", "int"),
        Field("type", "code", frozenset(decode.CARD_TYPES)),
        Field("issued", "datetime"),
    ),
    "order": (
        Field("order_id", "int"),
        Field("account_id", "int"),
        Field("bank_to", "text", required=False),
        Field("account_to", "text", required=False),
        Field("amount", "decimal"),
        Field("k_symbol", "code", frozenset(decode.ORDER_K_SYMBOLS), required=False),
    ),
}

KEYS = {
    "district": "A1",
    "account": "account_id",
    "client": "client_id",
    "disp": "disp_id",
    "trans": "trans_id",
    "loan": "loan_id",
    "card": "card_id",
    "order": "order_id",
}

# (file, column) -> (file, column) it must be found in
REFERENCES = (
    ("account", "district_id", "district", "A1"),
    ("client", "district_id", "district", "A1"),
    ("disp", "client_id", "client", "client_id"),
    ("disp", "account_id", "account", "account_id"),
    ("trans", "account_id", "account", "account_id"),
    ("loan", "account_id", "account", "account_id"),
    ("card", "disp_id", "disp", "disp_id"),
    ("order", "account_id", "account", "account_id"),
)

_INT = r"-?\d+"
_DECIMAL = r"-?\d+(?:\.\d+)?"


def _decode_text(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        try:
            return raw.decode("cp1250")
        except UnicodeDecodeError:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise BerkaFormatError(name, line, "not UTF-8 or cp1250 text") from None


def _check_lines(raw: bytes, name: str, expected: int) -> int:
    """Check quotes and field counts of every line on the bytes; returns the line count."""
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    ends = np.append(newlines, len(data)) if not raw.endswith(b"\n") else newlines
    lines = len(ends)
    quotes = data == 34
    quote_lines = np.searchsorted(ends, np.flatnonzero(quotes))
    odd = np.flatnonzero(np.bincount(quote_lines, minlength=lines) % 2)
    if len(odd):
        raise BerkaFormatError(name, int(odd[0]) + 1, "unbalanced double quotes")
    # a separator counts when an even number of quotes precede it (uint8 sums wrap mod 256,
    # which keeps the parity)
    outside = np.cumsum(quotes, dtype=np.uint8) % 2 == 0
    separators = np.flatnonzero((data == 59) & outside)
    before_end = np.searchsorted(separators, ends)
    counts = np.diff(np.concatenate(([0], before_end))) + 1
    bad = np.flatnonzero(counts != expected)
    if len(bad):
        line = int(bad[0])
        blank = raw[(ends[line - 1] + 1 if line else 0) : ends[line]].strip() == b""
        found = "a blank line" if blank else f"{int(counts[line])} fields"
        raise BerkaFormatError(
            name, line + 1, f"expected {expected} fields separated by ';', found {found}"
        )
    return lines


def _first_bad(name: str, frame: pd.DataFrame, bad: np.ndarray, column: str, rule: str) -> None:
    hits = np.flatnonzero(bad)
    if len(hits):
        row = int(hits[0])
        more = f" ({len(hits) - 1} more lines break this rule)" if len(hits) > 1 else ""
        value = frame[column].iloc[row]
        # frames keep the parsed file's row index: row 0 is line 2 (after the header)
        line = int(frame.index[row]) + 2
        raise BerkaFormatError(name, line, f"{column} = {value!r}: {rule}{more}")


def read_asc(path: Path, table: str | None = None) -> pd.DataFrame:
    """One Berka file, checked and typed (ints int64, decimals float64, dates datetime64).

    Empty text becomes None; codes are stripped of blanks (``" "`` counts as empty).
    """
    table = table or path.stem
    spec = SPECS[table]
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BerkaFormatError(name, None, f"file not found in {path.parent}") from None
    raw = raw.rstrip(b"\r\n\t ")
    if not raw:
        raise BerkaFormatError(name, 1, "the file is empty (no header row)")
    text = _decode_text(raw, name)
    header_end = text.find("\n")
    header = [h.strip().strip('"') for h in text[: header_end if header_end >= 0 else None]
              .strip().split(";")]
    expected = [f.name for f in spec]
    if header != expected:
        raise BerkaFormatError(name, 1, f"header is {header}, expected {expected}")
    _check_lines(raw, name, len(spec))
    frame = pd.read_csv(
        io.StringIO(text),
        sep=";",
        quotechar='"',
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        engine="c",
    )
    out: dict[str, object] = {}
    for field in spec:
        values = frame[field.name].str.strip()
        empty = (values == "").to_numpy(dtype=bool)
        if field.required:
            _first_bad(name, frame, empty, field.name, "a value is required")
        if field.kind == "int":
            _first_bad(
                name, frame, ~values.str.fullmatch(_INT).to_numpy(dtype=bool) & ~empty,
                field.name, "not an integer",
            )
            out[field.name] = pd.to_numeric(values.where(~empty), errors="coerce").astype(
                "int64" if field.required else "Int64"
            )
        elif field.kind == "decimal":
            _first_bad(
                name, frame, ~values.str.fullmatch(_DECIMAL).to_numpy(dtype=bool) & ~empty,
                field.name, "not a decimal number",
            )
            out[field.name] = pd.to_numeric(values.where(~empty), errors="coerce").astype(
                "float64"
            )
        elif field.kind in ("date", "datetime"):
            parse = decode.parse_yymmdd if field.kind == "date" else decode.parse_yymmdd_time
            shape = r"\d{6}" if field.kind == "date" else r"\d{6} \d{2}:\d{2}:\d{2}"
            parsed = parse(values)
            ok = values.str.fullmatch(shape).to_numpy(dtype=bool) & parsed.notna().to_numpy()
            rule = "not a valid YYMMDD date" + (" hh:mm:ss" if field.kind == "datetime" else "")
            _first_bad(name, frame, ~ok & ~empty, field.name, rule)
            out[field.name] = parsed.astype("datetime64[s]")
        elif field.kind == "code":
            known = values.isin(field.codes).to_numpy(dtype=bool)
            allowed = sorted(c for c in field.codes if c)
            _first_bad(name, frame, ~known & ~empty, field.name, f"not one of {allowed}")
            out[field.name] = values.astype(object)
        elif field.kind == "birth_number":
            birth, gender = decode.decode_birth_number(values)
            _first_bad(
                name, frame, birth.isna().to_numpy(),
                field.name, "not a birth number YYMMDD (women: month + 50)",
            )
            out[field.name] = values.astype(object)
            out["birth_date"] = birth.astype("datetime64[s]")
            out["gender"] = gender
        else:  # text, any
            out[field.name] = values.astype(object).where(~empty, None)
    result = pd.DataFrame(out)
    key = KEYS[table]
    duplicated = result[key].duplicated().to_numpy()
    _first_bad(name, result, duplicated, key, f"duplicate {key}")
    return result


@dataclass(frozen=True)
class BerkaExtract:
    """The eight Berka tables, checked, typed and cross-checked."""

    district: pd.DataFrame
    account: pd.DataFrame
    client: pd.DataFrame
    disp: pd.DataFrame
    trans: pd.DataFrame
    loan: pd.DataFrame
    card: pd.DataFrame
    order: pd.DataFrame


def read_berka(berka_dir: Path) -> BerkaExtract:
    """Read and check all eight files of a Berka folder (``<name>.asc``)."""
    berka_dir = Path(berka_dir)
    tables = {f.name: read_asc(berka_dir / f"{f.name}.asc", f.name) for f in fields(BerkaExtract)}
    for table, column, target, target_column in REFERENCES:
        frame = tables[table]
        missing = ~frame[column].isin(tables[target][target_column]).to_numpy(dtype=bool)
        _first_bad(
            f"{table}.asc", frame, missing, column, f"no such {target_column} in {target}.asc"
        )
    disp = tables["disp"]
    owners = disp[disp["type"] == "OWNER"]
    twice = owners["account_id"].duplicated().to_numpy()
    _first_bad("disp.asc", owners, twice, "account_id", "a second OWNER for the account")
    account = tables["account"]
    orphan = ~account["account_id"].isin(owners["account_id"]).to_numpy(dtype=bool)
    _first_bad("account.asc", account, orphan, "account_id", "no OWNER in disp.asc")
    return BerkaExtract(**tables)
