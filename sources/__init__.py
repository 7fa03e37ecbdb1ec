"""Source systems: the demo bank that plays a bank's systems, and real-extract adapters."""
