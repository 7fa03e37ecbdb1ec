"""Adapter for the PKDD'99 Czech bank extract ("Berka") onto the project's source contract.

``load_berka(berka_dir, core_url, data_dir)`` reads the eight ``.asc`` files, checks them
strictly (errors name the file, the line and the rule), maps them onto the contract in
``ingest/config/*.yml`` and writes the core-banking tables to a Postgres database and the
card, wealth and reference file drops under ``data_dir``, so that the rest of the pipeline
reads Berka exactly as it reads the demo bank. Every mapping choice, and every stand-in for
what Berka lacks, is listed in ``MAPPING.md`` next to this file.
"""

from sources.berka.load import load_berka, loaded_as_of
from sources.berka.reader import BerkaExtract, BerkaFormatError, read_berka

__all__ = ["BerkaExtract", "BerkaFormatError", "load_berka", "loaded_as_of", "read_berka"]
