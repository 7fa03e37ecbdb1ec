"""The `crm` command as a user meets it: help everywhere, clear errors, no tracebacks."""

from __future__ import annotations

import pytest
from conftest import free_port, run_crm

COMMANDS = [
    [],
    ["warehouse"],
    ["warehouse", "start"],
    ["warehouse", "stop"],
    ["warehouse", "status"],
    ["warehouse", "url"],
    ["run"],
    ["airflow"],
    ["doctor"],
    ["migrate"],
    ["settings"],
    ["demo-bank"],
    ["demo-bank", "generate"],
    ["demo-bank", "advance"],
    ["demo-bank", "serve-crm"],
    ["demo-bank", "check-ml"],
    ["berka"],
    ["berka", "load"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "crm")
def test_help_everywhere(command: list[str]) -> None:
    done = run_crm([*command, "--help"], {}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: crm" in done.stdout


def test_status_of_a_stopped_server_exits_1(tmp_path) -> None:
    done = run_crm(
        ["warehouse", "status"],
        {"CRM_STATE_DIR": str(tmp_path), "CRM_PG_PORT": str(free_port())},
        60,
    )
    assert done.returncode == 1
    assert "stopped" in done.stdout


def test_url_prints_the_configured_server(tmp_path) -> None:
    env = {"CRM_STATE_DIR": str(tmp_path), "CRM_PG_PORT": "61234"}
    assert run_crm(["warehouse", "url"], env, 60).stdout.strip() == (
        "postgresql://postgres@127.0.0.1:61234/warehouse"
    )
    assert (
        run_crm(
            ["warehouse", "url", "--sqlalchemy", "--database", "airflow"], env, 60
        ).stdout.strip()
        == "postgresql+psycopg://postgres@127.0.0.1:61234/airflow"
    )


def test_bad_date_is_refused_before_any_work(tmp_path) -> None:
    done = run_crm(
        ["run", "--date", "31/01/2026"],
        {"CRM_STATE_DIR": str(tmp_path), "CRM_PG_PORT": str(free_port())},
        60,
    )
    assert done.returncode == 1
    assert "is not a date" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "pgdata").exists()


def test_bad_setting_is_one_clear_line(tmp_path) -> None:
    done = run_crm(
        ["warehouse", "start"], {"CRM_STATE_DIR": str(tmp_path), "CRM_PG_PORT": "not-a-port"}, 60
    )
    assert done.returncode == 1
    assert "CRM_PG_PORT='not-a-port' is not a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_ml_without_a_demo_bank_says_what_to_do_first(tmp_path) -> None:
    done = run_crm(
        ["demo-bank", "check-ml"],
        {"CRM_STATE_DIR": str(tmp_path), "CRM_PG_PORT": str(free_port())},
        60,
    )
    assert done.returncode == 1
    assert "no demo bank here" in done.stderr and "Traceback" not in done.stderr
