"""The CSV the demo bank's core database is written with (COPY ... format csv)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from sources.core_db import _copy_csv


def test_csv_for_copy_survives_an_empty_first_chunk() -> None:
    # pandas 3 strings concatenated with an empty frame give a large_string column whose
    # first chunk is empty; pyarrow 26's CSV writer then emits NUL bytes (seen at bench
    # scale when the day's changed customers were upserted).
    empty = pd.DataFrame({"id": pd.Series([], dtype="int64"), "kind": pd.Series([], dtype="str")})
    rows = pd.DataFrame({"id": [1, 2], "kind": pd.array(["individual", "corporate"], dtype="str")})
    table = pa.Table.from_pandas(pd.concat([empty, rows], ignore_index=True), preserve_index=False)
    assert table.column("kind").num_chunks == 2
    assert _copy_csv(table) == b'1,"individual"\n2,"corporate"\n'
