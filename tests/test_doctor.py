"""`crm doctor` on broken set-ups says what is wrong and how to fix it, never a traceback."""

from __future__ import annotations

import socket

from conftest import free_port, run_crm


def _doctor(env: dict[str, str]) -> tuple[int, str]:
    done = run_crm(["doctor"], env, timeout=120)
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    return done.returncode, output


def test_healthy_setup_passes(settings, test_env) -> None:
    code, out = _doctor(test_env)
    assert code == 0, out
    assert "All checks passed" in out
    assert "[FAIL]" not in out


def test_port_taken(tmp_path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        code, out = _doctor({"CRM_STATE_DIR": str(tmp_path), "CRM_PG_PORT": str(port)})
    assert code == 1
    assert f"port {port} on 127.0.0.1 is taken" in out
    assert "fix: set CRM_PG_PORT" in out


def test_unwritable_state_folder(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out = _doctor({"CRM_STATE_DIR": str(blocker / "state"), "CRM_PG_PORT": str(free_port())})
    assert code == 1
    assert "is not writable" in out and "fix: set CRM_STATE_DIR" in out


def test_unreachable_warehouse_url(tmp_path) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/warehouse"
    code, out = _doctor({"CRM_STATE_DIR": str(tmp_path), "WAREHOUSE_URL": url})
    assert code == 1
    assert "cannot connect to" in out and "WAREHOUSE_URL" in out


def test_malformed_warehouse_url(tmp_path) -> None:
    code, out = _doctor({"CRM_STATE_DIR": str(tmp_path), "WAREHOUSE_URL": "mysql://x@y/z"})
    assert code == 1
    assert "must start with postgresql://" in out
