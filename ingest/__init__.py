"""Ingest stage: extract from source systems and load into the raw schema with COPY."""
