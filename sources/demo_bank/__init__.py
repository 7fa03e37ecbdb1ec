"""The demo bank: a deterministic simulation of a bank's six source systems.

`generate` simulates the whole history into a world store (Parquet, one file per month)
and publishes it to the source systems up to the bank date; `advance` publishes further,
day by day, so daily incremental extraction sees new and changed rows.
"""
