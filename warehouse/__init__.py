"""Warehouse stage: settings, connections, the embedded Postgres, schemas and the CLI."""
