"""The project's one logging setup, and a progress reporter for long work."""

from __future__ import annotations

import logging
import time

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Configure the ``crm`` logger tree once; Airflow tasks keep Airflow's handlers."""
    root = logging.getLogger("crm")
    root.setLevel(level)
    if not logging.getLogger().handlers and not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)


def get_logger(name: str) -> logging.Logger:
    """A logger under ``crm.`` so one setting controls all of the project's output."""
    return logging.getLogger(f"crm.{name}")


class Progress:
    """Logs counts and rates every ``every_seconds`` while work streams through."""

    def __init__(self, logger: logging.Logger, what: str, every_seconds: float = 5.0) -> None:
        self.logger = logger
        self.what = what
        self.every_seconds = every_seconds
        self.count = 0
        self.started = time.monotonic()
        self._last = self.started

    def add(self, n: int) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last >= self.every_seconds:
            self._last = now
            self.logger.info(
                "%s: %s rows so far (%s rows/s)", self.what, f"{self.count:,}", f"{self.rate:,.0f}"
            )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def done(self, total: int | None = None) -> None:
        if total is not None:
            self.count = total
        self.logger.info(
            "%s: %s rows in %.2f s (%s rows/s)",
            self.what,
            f"{self.count:,}",
            self.elapsed,
            f"{self.rate:,.0f}",
        )
