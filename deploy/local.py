"""The production layout on one machine, for tests and trials: ``scripts/deploy-local up|down``.

What ``up`` starts, each on a free port of 127.0.0.1, all state under one directory
(``BROKER_DEPLOY_DIR``, default ``/tmp/broker-deploy-local``), never the machine's shared servers:

1. a private PostgreSQL cluster (``initdb`` in the state directory). The database ``broker`` is
   owned by the role ``broker_owner``, which runs the migrations (``broker init``); the broker
   serves as ``broker_app``, a role that owns nothing and holds only SELECT, INSERT, UPDATE and
   DELETE on the tables (no DELETE or TRUNCATE on the audit tables) and the sequences it needs,
   so it can neither drop nor disable the append-only triggers;
2. Redis with append-only persistence (the per-minute limits);
3. the pseudonym service (``broker pseudonym-service serve``) with its own directory: ``k``
   lives there; the broker holds ``b`` and the pinned public half of ``k`` and runs with
   ``BROKER_PRODUCTION=1``, so it would refuse to start if it could read ``k``;
4. a witness of the audit log (``broker witness serve``), which the broker asks to co-sign;
5. the broker under gunicorn with N workers (``BROKER_DEPLOY_WORKERS``, default 3), behind
6. nginx with TLS from a certificate made at start-up (openssl), forwarding ``X-Forwarded-*``
   to the broker, which trusts them from 127.0.0.1 only.

Every process runs in a session of its own, so a process group can be stopped or killed alone
(the reliability suite does). ``state.json`` records ports, URLs and process ids; ``down`` stops
everything and removes the directory. As root, PostgreSQL runs as the ``postgres`` user (initdb
refuses root) and nginx's workers as root.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BROKER = [PYTHON, "-c", "from broker.cli import main; main()"]
DEFAULT_DIR = Path(os.environ.get("BROKER_DEPLOY_DIR") or "/tmp/broker-deploy-local")  # noqa: S108 - a documented default


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries (Debian's layout, else the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        raise SystemExit("PostgreSQL server binaries (initdb) are not installed: "
                         "apt-get install -y postgresql")
    return Path(initdb).resolve().parent


@dataclass
class Deployment:
    """The running deployment, as recorded in ``state.json``."""

    state: Path
    workers: int = 3
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    witness_key: str = ""

    # --- where things are ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The broker as clients reach it: https through nginx."""
        return f"https://127.0.0.1:{self.ports['https']}"

    @property
    def cert(self) -> Path:
        """The test certificate clients verify nginx with."""
        return self.state / "tls" / "cert.pem"

    def tls(self) -> ssl.SSLContext:
        """A TLS context that trusts the test certificate (for httpx's ``verify``)."""
        return ssl.create_default_context(cafile=str(self.cert))

    @property
    def service_dir(self) -> Path:
        """The pseudonym service's own directory (k is here, nowhere else)."""
        return self.state / "pseudonym-service"

    def database_url(self, role: str = "broker_app") -> str:
        """The broker's database as ``role`` (``broker_owner`` migrates)."""
        return f"postgresql+psycopg://{role}@127.0.0.1:{self.ports['postgres']}/broker"

    @property
    def redis_url(self) -> str:
        """Redis for the per-minute limits."""
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    def broker_env(self, role: str = "broker_app") -> dict[str, str]:
        """The environment of the broker's processes and commands."""
        env = {**os.environ, "BROKER_HOME": str(self.state / "broker"),
               "BROKER_POLICY_DIR": os.environ.get("BROKER_DEPLOY_POLICY")
               or str(ROOT / "policies"),
               "BROKER_DATABASE_URL": self.database_url(role), "BROKER_REDIS_URL": self.redis_url,
               "BROKER_PSEUDONYM_SERVICE_URL": f"http://127.0.0.1:{self.ports['service']}",
               "BROKER_PRODUCTION": "1", "BROKER_TRUSTED_PROXIES": "127.0.0.1",
               "BROKER_BASE_URL": self.base_url, "BROKER_LANG": "en",
               "BROKER_AUDIT_ORIGIN": "deploy-local.test/audit",
               "BROKER_AUDIT_CHECKPOINT_INTERVAL": "5"}
        if self.witness_key:
            env |= {"BROKER_WITNESS_URLS": f"http://127.0.0.1:{self.ports['witness']}",
                    "BROKER_WITNESS_KEYS": self.witness_key}
        return env

    def save(self) -> None:
        """Write ``state.json``."""
        data = asdict(self) | {"state": str(self.state)}
        (self.state / "state.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state: Path = DEFAULT_DIR) -> Deployment:
        """The deployment recorded under ``state``."""
        data = json.loads((state / "state.json").read_text())
        return cls(Path(data["state"]), data["workers"], data["ports"], data["pids"],
                   data["witness_key"])

    # --- running commands and processes ------------------------------------------------------

    def run(self, *args: str, env: dict[str, str] | None = None, user: bool = False) -> str:
        """Run a command to completion; its output (it must succeed)."""
        uid, gid = self._postgres_user() if user else (None, None)
        done = subprocess.run(list(args), cwd=ROOT, env=env or dict(os.environ),
                              capture_output=True, text=True, check=False, user=uid, group=gid,
                              extra_groups=None if uid is None else [])
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start a long-running process in a session of its own, logging to logs/<name>.log."""
        with open(self.state / "logs" / f"{name}.log", "ab") as log:
            process = subprocess.Popen(args, cwd=ROOT, env=env or dict(os.environ), stdout=log,
                                       stderr=log, start_new_session=True)
        self.pids[name] = process.pid
        self.save()

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Signal the process group ``name`` and wait for it to end (SIGKILL after timeout)."""
        pid = self.pids.pop(name, None)
        self.save()
        if pid is None:
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)

    def wait_http(self, url: str, timeout: float = 90,
                  verify: bool | ssl.SSLContext = True) -> None:
        """Wait until ``url`` answers (any status below 500)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url, timeout=3, verify=verify).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer; see {self.state / 'logs'}")
            time.sleep(0.2)

    def _postgres_user(self) -> tuple[int | None, int | None]:
        """As root, PostgreSQL runs as the ``postgres`` user (initdb refuses root)."""
        if os.geteuid() != 0:
            return None, None
        account = pwd.getpwnam("postgres")
        return account.pw_uid, account.pw_gid

    # --- the parts ------------------------------------------------------------------------------

    def start_postgres(self) -> None:
        """Start the cluster (``pg_ctl -w``: returns once it accepts connections)."""
        options = (f"-p {self.ports['postgres']} -c listen_addresses=127.0.0.1 "
                   f"-k {self.state / 'pg'} -c max_connections=200")
        self.run(str(postgres_bin() / "pg_ctl"), "-D", str(self.state / "pg" / "data"), "-o",
                 options, "-l", str(self.state / "pg" / "log"), "-w", "-t", "60", "start",
                 user=True)

    def stop_postgres(self, mode: str = "fast") -> None:
        """Stop the cluster (``fast``: open transactions rolled back, everyone disconnected)."""
        data = self.state / "pg" / "data"
        uid, gid = self._postgres_user()
        status = subprocess.run([str(postgres_bin() / "pg_ctl"), "-D", str(data), "status"],
                                capture_output=True, check=False, user=uid, group=gid,
                                extra_groups=None if uid is None else [])
        if status.returncode == 0:
            self.run(str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop",
                     user=True)

    def start_redis(self, empty: bool = False) -> None:
        """Start redis-server with append-only persistence (``empty``: its files deleted)."""
        if empty:
            for leftover in (self.state / "redis").iterdir():
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        self.spawn("redis", ["redis-server", "--port", str(self.ports["redis"]), "--bind",
                             "127.0.0.1", "--dir", str(self.state / "redis"), "--appendonly",
                             "yes", "--save", ""])
        deadline = time.monotonic() + 30
        while subprocess.run(["redis-cli", "-p", str(self.ports["redis"]), "ping"],
                             capture_output=True, check=False).stdout.strip() != b"PONG":
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.1)

    def start_service(self) -> None:
        """The pseudonym service, on its own directory."""
        self.spawn("service", [*BROKER, "pseudonym-service", "serve", "--dir",
                               str(self.service_dir), "--port", str(self.ports["service"]),
                               "--workers", "2"])
        self.wait_http(f"http://127.0.0.1:{self.ports['service']}/healthz")

    def start_witness(self) -> None:
        """The witness of the audit log."""
        self.spawn("witness", [*BROKER, "witness", "serve", "--dir", str(self.state / "witness"),
                               "--port", str(self.ports["witness"])])
        self.wait_http(f"http://127.0.0.1:{self.ports['witness']}/checkpoint/none")

    def start_broker(self) -> None:
        """gunicorn with the broker's config module and N workers."""
        self.spawn("broker", [PYTHON, "-m", "gunicorn", "-c", "python:broker.gunicorn_conf",
                              "--workers", str(self.workers), "--threads", "4", "--bind",
                              f"127.0.0.1:{self.ports['broker']}", "--graceful-timeout", "5",
                              "--timeout", "60", "broker.wsgi:app"], self.broker_env())
        self.wait_http(f"http://127.0.0.1:{self.ports['broker']}/readyz")

    def start_worker(self) -> None:
        """``broker worker``: checkpoints, delivery, expiry, reminders, retention."""
        self.spawn("worker", [*BROKER, "worker"], self.broker_env())

    def start_nginx(self) -> None:
        """nginx with TLS in front of the broker."""
        self.spawn("nginx", [_nginx(), "-c", str(self.state / "nginx" / "nginx.conf"), "-p",
                             str(self.state / "nginx")])
        self.wait_http(self.base_url + "/readyz", verify=self.tls())


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):  # our own child that has ended: reap it
        os.waitpid(pid, os.WNOHANG)
    return True


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    return found


def render_nginx(deployment: Deployment) -> None:
    """``nginx/nginx.conf`` from ``deploy/nginx.conf.template``."""
    template = Template((ROOT / "deploy" / "nginx.conf.template").read_text())
    config = template.safe_substitute(
        state=str(deployment.state), broker_port=deployment.ports["broker"],
        https_port=deployment.ports["https"],
        user_line="user root;" if os.geteuid() == 0 else "")
    nginx = deployment.state / "nginx"
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (nginx / temp).mkdir(parents=True, exist_ok=True)
    (nginx / "nginx.conf").write_text(config)


def make_certificate(deployment: Deployment) -> None:
    """A self-signed test certificate for 127.0.0.1 and localhost (two days)."""
    tls = deployment.state / "tls"
    tls.mkdir(mode=0o700)
    deployment.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                   "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                   "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem"))
