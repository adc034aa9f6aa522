"""What the benchmarks share: console output, loopback ports, and a throwaway PostgreSQL started
the way scripts/test.sh starts it. The scripts run as `python bench/<name>.py`, so they import
this module by its plain name."""

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    sys.exit(f"{what} did not listen on 127.0.0.1:{port}")


class Postgres:
    """A PostgreSQL in a temp dir on a free loopback port, with a `portico` role and database.

    durable=False skips fsync and synchronous commits (a database that lives as long as the run,
    so the figures are CPU and queries, not disk flushes) and gives it 1 GB of shared buffers;
    createdb lets the role make databases.
    """

    def __init__(self, tmp: Path, *, durable: bool = True, createdb: bool = False) -> None:
        self.tmp = tmp
        self.data = tmp / "pgdata"
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.durable = durable
        self.createdb = createdb
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        self.bin = bins[-1] if bins and (bins[-1] / "initdb").exists() else None
        self.as_root = os.geteuid() == 0

    @property
    def available(self) -> bool:
        return self.bin is not None

    def require(self) -> "Postgres":
        if not self.available:
            sys.exit("PostgreSQL server binaries not found: apt-get install postgresql")
        return self

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root: as root it runs as the `postgres` system user.
        command = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        subprocess.run(command, check=True, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        if self.as_root:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                subprocess.run(
                    ["useradd", "--system", "--user-group", "--home-dir", "/var/lib/postgresql"]
                    + ["--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                    check=True,
                )
            shutil.chown(self.tmp, "postgres")
        self.tmp.chmod(0o700)
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust"]
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.tmp}"
        if not self.durable:
            initdb.append("--no-sync")
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c maintenance_work_mem=256MB"
            # Sized for a million keys and their three million reminder rows, as a production
            # server would be (PostgreSQL's default, 128 MB, is for a laptop).
            options += " -c shared_buffers=1GB"
        self._run(*initdb)
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.tmp / "postgres.log"), "-w", "-t", "60"),
            *("-o", options, "start"),
        )
        psql = [str(self.bin / "psql"), "-X", "-q", "-h", str(self.tmp), "-p", str(self.port), "-U", "postgres"]
        role_options = "LOGIN CREATEDB" if self.createdb else "LOGIN"
        self._run(*psql, "-c", f"CREATE ROLE portico {role_options} PASSWORD '{self.password}'")
        self._run(*psql, "-c", "CREATE DATABASE portico OWNER portico")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://portico:{self.password}@127.0.0.1:{self.port}/portico"

    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def version(self) -> str:
        return self.bin.parent.name


# --- Figures --------------------------------------------------------------------------------------
# Every benchmark takes `--figures PATH` and writes there a JSON list of figures, the unit of
# docs/benchmarks.json: {"figure": NAME, "value": NUMBER, "unit": TEXT, "detail": TEXT}.
# bench/run.py (`make bench`) runs them all and merges their figures.
def figure(name: str, value: float, unit: str, detail: str) -> dict[str, object]:
    return {"figure": name, "value": round(float(value), 4), "unit": unit, "detail": detail}


def write_figures(path: str | None, figures: list[dict[str, object]]) -> None:
    if not path:
        return
    import json

    Path(path).write_text(json.dumps(figures, indent=2) + "\n")
    say(f"{len(figures)} figures written to {path}")


def machine_load() -> str:
    """The machine's state, printed beside every result: CPUs and the load average."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f}"
