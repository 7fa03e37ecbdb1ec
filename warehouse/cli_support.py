"""What every `crm` command shares: one-line errors instead of tracebacks, settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer

from warehouse.log import setup_logging
from warehouse.settings import Settings, SettingsError, get_settings

F = TypeVar("F", bound=Callable[..., object])


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def friendly_errors(func: F) -> F:
    """Known failures print one clear message instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ingest.config import ConfigError
        from ingest.landing import LoadError
        from warehouse.airflow_runner import AirflowError
        from warehouse.bootstrap import WarehouseNotReady
        from warehouse.db import WarehouseUnavailable
        from warehouse.embedded import EmbeddedPostgresError

        known = (
            SettingsError,
            EmbeddedPostgresError,
            WarehouseUnavailable,
            WarehouseNotReady,
            AirflowError,
            ConfigError,
            LoadError,
        )
        try:
            return func(*args, **kwargs)
        except known as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    settings = get_settings()
    setup_logging(settings.log_level)
    return settings
