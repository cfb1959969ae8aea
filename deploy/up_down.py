"""``scripts/deploy-local up|down|env``: start the local production layout, stop it and remove
its state, or print the broker's environment for running ``broker`` commands against it (see
:mod:`deploy.local` for what runs and how)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from deploy.local import (
    BROKER,
    DEFAULT_DIR,
    Deployment,
    free_port,
    make_certificate,
    postgres_bin,
    render_nginx,
)

# What the broker's serving role may do: read and write rows, never own, alter or drop.
GRANTS = """
GRANT CONNECT ON DATABASE broker TO broker_app;
GRANT USAGE ON SCHEMA public TO broker_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO broker_app;
REVOKE DELETE, TRUNCATE ON audit_events, audit_checkpoints, audit_cosignatures, audit_subjects
    FROM broker_app;
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM broker_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO broker_app;
"""


def psql(deployment: Deployment, sql: str, database: str = "postgres",
         role: str = "postgres") -> str:
    """Run SQL on the private cluster."""
    return deployment.run(str(postgres_bin() / "psql"), "-h", "127.0.0.1", "-p",
                          str(deployment.ports["postgres"]), "-U", role, "-d", database,
                          "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)


def up(state: Path, workers: int) -> Deployment:
    """Start everything (the module docstring of deploy.local lists it)."""
    if (state / "state.json").exists():
        raise SystemExit(f"{state} holds a deployment already: scripts/deploy-local down first")
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    deployment = Deployment(state, workers, {name: free_port() for name in (
        "postgres", "redis", "service", "witness", "broker", "https")})
    for sub in ("logs", "redis", "broker"):
        (state / sub).mkdir()
    deployment.save()
    state.chmod(0o755)  # the postgres user must reach pg/ when we are root
    pg = state / "pg"
    pg.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(pg, "postgres", "postgres")
    deployment.run(str(postgres_bin() / "initdb"), "-D", str(pg / "data"), "-U", "postgres",
                   "-A", "trust", "-E", "UTF8", "--locale=C", user=True)
    deployment.start_postgres()
    psql(deployment, "CREATE ROLE broker_owner LOGIN")
    psql(deployment, "CREATE ROLE broker_app LOGIN")
    psql(deployment, "CREATE DATABASE broker OWNER broker_owner")
    psql(deployment, "REVOKE ALL ON SCHEMA public FROM PUBLIC", database="broker")
    psql(deployment, "GRANT ALL ON SCHEMA public TO broker_owner", database="broker")
    print(f"postgresql on 127.0.0.1:{deployment.ports['postgres']} (roles broker_owner, "
          "broker_app)")
    deployment.start_redis()
    print(f"redis (appendonly) on 127.0.0.1:{deployment.ports['redis']}")

    # The pseudonym service's directory (k), paired with the broker's keys (b, k's public half).
    owner_env = deployment.broker_env("broker_owner")
    deployment.run(*BROKER, "pseudonym-service", "init", "--dir", str(deployment.service_dir),
                   "--from-policy", owner_env["BROKER_POLICY_DIR"], "--quota-type",
                   "operator=1000000", *(["--quota", os.environ["BROKER_DEPLOY_SERVICE_QUOTA"]]
                                          if os.environ.get("BROKER_DEPLOY_SERVICE_QUOTA") else []))
    deployment.run(*BROKER, "pseudonym-service", "pair", "--dir", str(deployment.service_dir),
                   env=owner_env)
    deployment.start_service()
    print(f"pseudonym service on 127.0.0.1:{deployment.ports['service']} "
          f"(k in {deployment.service_dir})")

    # Migrations as the owner, then the serving role's grants.
    deployment.run(*BROKER, "init", env=owner_env)
    psql(deployment, GRANTS, database="broker", role="broker_owner")
    audit_key = deployment.run(*BROKER, "audit", "key", env=owner_env).strip().splitlines()[-1]
    deployment.witness_key = deployment.run(
        *BROKER, "witness", "init", "--dir", str(state / "witness"), "--name",
        "deploy-local.test/witness", "--log", audit_key).strip().splitlines()[-1]
    deployment.save()
    deployment.start_witness()
    print(f"witness on 127.0.0.1:{deployment.ports['witness']}")

    deployment.start_broker()
    print(f"broker: gunicorn with {workers} workers on 127.0.0.1:{deployment.ports['broker']} "
          "(database role broker_app, BROKER_PRODUCTION=1)")
    deployment.start_worker()
    print("broker worker: checkpoints, notification delivery, expiry, reminders, retention")
    make_certificate(deployment)
    render_nginx(deployment)
    deployment.start_nginx()
    print(f"nginx (TLS) on {deployment.base_url} — certificate {deployment.cert}")
    print(f"state in {state}; stop with: scripts/deploy-local down")
    return deployment


def down(state: Path) -> None:
    """Stop everything and remove the state directory."""
    if not (state / "state.json").exists():
        print(f"no deployment in {state}")
        return
    deployment = Deployment.load(state)
    for name in ("nginx", "broker", "worker", "witness", "service", "redis"):
        deployment.stop(name)
    deployment.stop_postgres("fast")
    shutil.rmtree(state, ignore_errors=True)
    print(f"stopped; {state} removed")


def main(argv: list[str]) -> int:
    """``up [--workers N]``, ``down``, ``env``."""
    state = DEFAULT_DIR
    if not argv or argv[0] not in ("up", "down", "env"):
        print("usage: scripts/deploy-local up [--workers N] | down | env", file=sys.stderr)
        return 2
    if argv[0] == "up":
        workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else int(
            os.environ.get("BROKER_DEPLOY_WORKERS", "3"))
        try:
            up(state, workers)
        except BaseException:
            print("start failed; stopping what started", file=sys.stderr)
            down(state)
            raise
    elif argv[0] == "down":
        down(state)
    else:
        deployment = Deployment.load(state)
        env = deployment.broker_env()
        for name in sorted(env):
            if name.startswith("BROKER_"):
                print(f"export {name}={shlex.quote(env[name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
