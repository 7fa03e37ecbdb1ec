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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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

_INT = r"-?\d{1,18}"
_DECIMAL = r"-?\d+(?:\.\d+)?"


def _utf8(raw: bytes, name: str) -> bytes:
    """The bytes as UTF-8 (cp1250, the Czech Windows code page, is re-encoded)."""
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError as exc:
        try:
            return raw.decode("cp1250").encode("utf-8")
        except UnicodeDecodeError:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise BerkaFormatError(name, line, "not UTF-8 or cp1250 text") from None


def _per_line(positions: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many of the (sorted) byte positions fall on each line."""
    return np.diff(np.concatenate(([0], np.searchsorted(positions, ends))))


def _check_lines(raw: bytes, name: str, expected: int, *, exact: bool = False) -> int:
    """Check quotes and field counts of every line on the bytes; returns the line count."""
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if not raw.endswith(b"\n"):
        ends = np.append(ends, len(data))
    lines = len(ends)
    odd = np.flatnonzero(_per_line(np.flatnonzero(data == 34), ends) % 2)
    if len(odd):
        raise BerkaFormatError(name, int(odd[0]) + 1, "unbalanced double quotes")
    counts = _per_line(np.flatnonzero(data == 59), ends) + 1
    if exact or (counts != expected).any():
        # some line differs, or a quoted value holds a ';': count only the separators
        # outside quotes (an even number of quotes before them; uint8 sums wrap mod 256,
        # which keeps the parity)
        outside = np.cumsum(data == 34, dtype=np.uint8) % 2 == 0
        counts = _per_line(np.flatnonzero((data == 59) & outside), ends) + 1
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
    """Raise for the first row of ``frame`` flagged in ``bad`` (rows keep their file order:
    index 0 is line 2, after the header)."""
    hits = np.flatnonzero(bad)
    if len(hits):
        row = int(hits[0])
        more = f" ({len(hits) - 1} more lines break this rule)" if len(hits) > 1 else ""
        value = frame[column].iloc[row]
        raise BerkaFormatError(
            name, int(frame.index[row]) + 2, f"{column} = {value!r}: {rule}{more}"
        )


def _first_bad_raw(
    name: str, values: pa.ChunkedArray, bad: np.ndarray, column: str, rule: str
) -> None:
    """Raise for the first flagged value of a parsed column (position 0 is line 2)."""
    hits = np.flatnonzero(bad)
    if len(hits):
        row = int(hits[0])
        more = f" ({len(hits) - 1} more lines break this rule)" if len(hits) > 1 else ""
        value = values[row].as_py()
        raise BerkaFormatError(name, row + 2, f"{column} = {value!r}: {rule}{more}")


def _mask(condition: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(condition, False).to_numpy(zero_copy_only=False).astype(bool)


def _matches(values: pa.ChunkedArray, pattern: str) -> np.ndarray:
    return _mask(pc.match_substring_regex(values, f"^(?:{pattern})$"))


def _parse_stamp(values: pa.ChunkedArray, fmt: str, shape_ok: np.ndarray) -> tuple:
    """``19`` + value parsed with ``fmt``, and where it is a real date: Arrow rolls
    30 February over to 2 March, so the parsed day must be the written one."""
    text = pc.utf8_replace_slice(values, 0, 0, "19")
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    day_text = pc.if_else(pa.array(shape_ok), pc.utf8_slice_codeunits(values, 4, 6), "0")
    same_day = pc.equal(pc.day(parsed), pc.cast(day_text, pa.int64()))
    return parsed, _mask(same_day)


def _codes_of(values: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes of the values and the dictionary (fast where ``is_in`` is not)."""
    encoded = pc.dictionary_encode(values.combine_chunks())
    return (
        encoded.indices.to_numpy(zero_copy_only=False),
        encoded.dictionary.to_pylist(),
    )


def _parse(data: bytes, names: list[str]) -> pa.Table:
    """All fields as strings (empty, quoted or not, stays "")."""
    if b"\n" not in data:  # the header alone
        return pa.table({n: pa.array([], pa.string()) for n in names})
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
        parse_options=pacsv.ParseOptions(delimiter=";", quote_char='"'),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def read_asc(path: Path, table: str | None = None) -> pd.DataFrame:
    """One Berka file, checked and typed (ints int64, decimals float64, dates datetime64).

    Text and codes are stripped of blanks (a k_symbol of ``" "`` counts as empty); empty
    free text becomes None, codes stay categorical with ``""`` for empty.
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
    data = _utf8(raw, name)
    header = [h.strip().strip('"') for h in data.split(b"\n", 1)[0].decode().strip().split(";")]
    expected = [f.name for f in spec]
    if header != expected:
        raise BerkaFormatError(name, 1, f"header is {header}, expected {expected}")
    rows = _check_lines(data, name, len(spec)) - 1
    try:
        parsed = _parse(data, expected)
    except pa.ArrowInvalid as exc:
        # only if a quoted ';' hid a missing field from the fast count above
        _check_lines(data, name, len(spec), exact=True)
        raise BerkaFormatError(name, None, str(exc)) from None
    if parsed.num_rows != rows:
        raise BerkaFormatError(name, None, f"parsed {parsed.num_rows} rows of {rows} lines")
    out: dict[str, object] = {}
    for field in spec:
        values = pc.utf8_trim_whitespace(parsed[field.name])
        empty = _mask(pc.equal(values, ""))
        if field.required:
            _first_bad_raw(name, values, empty, field.name, "a value is required")
        if field.kind in ("int", "decimal"):
            pattern, target = (
                (_INT, pa.int64()) if field.kind == "int" else (_DECIMAL, pa.float64())
            )
            rule = "not an integer" if field.kind == "int" else "not a decimal number"
            _first_bad_raw(name, values, ~_matches(values, pattern) & ~empty, field.name, rule)
            typed = pc.cast(pc.if_else(pa.array(empty), None, values), target)
            series = typed.to_pandas()
            optional_int = field.kind == "int" and not field.required
            out[field.name] = series.astype("Int64") if optional_int else series
        elif field.kind in ("date", "datetime"):
            fmt = "%Y%m%d" if field.kind == "date" else "%Y%m%d %H:%M:%S"
            shape = r"\d{6}" if field.kind == "date" else r"\d{6} \d{2}:\d{2}:\d{2}"
            shape_ok = _matches(values, shape)
            stamps, same = _parse_stamp(values, fmt, shape_ok)
            ok = shape_ok & same
            rule = "not a valid YYMMDD date" + (" hh:mm:ss" if field.kind == "datetime" else "")
            _first_bad_raw(name, values, ~ok & ~empty, field.name, rule)
            out[field.name] = pd.Series(
                stamps.to_numpy().astype("datetime64[s]"), dtype="datetime64[s]"
            )
        elif field.kind == "code":
            codes, dictionary = _codes_of(values)
            categories = sorted(field.codes)
            remap = np.array(
                [categories.index(v) if v in field.codes else -1 for v in dictionary],
                dtype=np.int64,
            )
            mapped = remap[codes] if len(codes) else codes
            allowed = sorted(c for c in field.codes if c)
            _first_bad_raw(name, values, mapped < 0, field.name, f"not one of {allowed}")
            out[field.name] = pd.Series(pd.Categorical.from_codes(mapped, categories))
        elif field.kind == "birth_number":
            numbers = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
            birth, gender = decode.decode_birth_number(numbers)
            _first_bad_raw(
                name,
                values,
                birth.isna().to_numpy(),
                field.name,
                "not a birth number YYMMDD (women: month + 50)",
            )
            out[field.name] = numbers
            out["birth_date"] = birth.astype("datetime64[s]")
            out["gender"] = gender
        else:  # text, any
            out[field.name] = pd.Series(
                np.where(empty, None, values.to_numpy(zero_copy_only=False)), dtype=object
            )
    result = pd.DataFrame(out)
    key = KEYS[table]
    duplicated = result[key].duplicated().to_numpy()
    _first_bad(name, result, duplicated, key, f"duplicate {key}")
    return result


@dataclass(frozen=True)
class BerkaExtract:
    """The eight Berka tables, checked, typed and cross-checked.

    Columns are Berka's, plus decoded ones: ``client.birth_date`` and ``client.gender``
    (from ``birth_number``) and ``account.statement_frequency`` (monthly | weekly |
    after_transaction).
    """

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
    tables["account"] = account.assign(
        statement_frequency=account["frequency"].map(decode.FREQUENCY)
    )
    return BerkaExtract(**tables)
