"""What every `crm` command shares: one-line errors instead of tracebacks, settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
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


def demo_crm(settings: Settings) -> AbstractContextManager[object]:
    """Serve the demo CRM during a command when the pipeline pulls the demo bank locally."""
    from urllib.parse import urlsplit

    local = urlsplit(settings.crm_api_url).hostname in ("127.0.0.1", "localhost")
    if settings.source != "demo" or not local:
        return nullcontext()
    from sources.demo_bank.config import Layout
    from sources.demo_bank.crm_api import demo_crm_running

    return demo_crm_running(
        Layout(settings.data_dir).root, settings.crm_api_token, settings.crm_api_port
    )
