"""The local environment: PowerDNS, BIND, Unbound, the lease servers and the workloads, started
and stopped together. Long (over 800 lines) for one reason: start-up order, port clashes and
recovery of every server share one lock and one record of what runs; splitting it is next.

State lives in one directory: configs, databases, zone files, logs, secrets, and env.json
(the spec, ports and pids of the running servers). Every server runs as a child process
in its own session; `down` stops each process group and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orchestrator
from orchestrator.adapters.files.paths import project_root
from orchestrator.adapters.postgres import pg
from orchestrator.adapters.postgres.pg import Endpoint
from orchestrator.devenv import (
    binaries,
    bind,
    credentials,
    leaseservers,
    postgres,
    powerdns,
    probes,
    process,
    statedb,
    unbound,
    workloads,
)
from orchestrator.devenv.ports import LOOPBACK, pick_dns_port, pick_tcp_port, port_holder, tcp_port_free
from orchestrator.devenv.spec import DevSpec, validate
from orchestrator.devenv.status import PROCESS_ROLES, build_status, recorded_roles
from orchestrator.domain.errors import ConflictError, EnvironmentProblem, UsageError

STATE_FILE = "env.json"
LOCK_FILE = ".lock"
LOCK_TIMEOUT = 120.0
PORT_ATTEMPTS = 4
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REAP_TIMEOUT = 5.0
PROBE_TIMEOUT = 2.0  # health of a running environment: generous, a false "unhealthy" means a restart
# How each server reports a port that another process took (named does not say why).
_PORT_CLASH = (
    "address already in use",
    "address in use",
    "eaddrinuse",
    "unable to listen on any configured interfaces",
)


DEV_DIR_ENV = "ORCHESTRATOR_DEV_DIR"


def default_state_dir() -> Path:
    """$ORCHESTRATOR_DEV_DIR, else <project root>/.dev (project root: where Pulumi.yaml is)."""
    if env := os.environ.get(DEV_DIR_ENV):
        return Path(env)
    return project_root() / ".dev"


class DevEnv:
    """One local environment, identified by its state directory."""

    def __init__(
        self,
        state_dir: Path,
        *,
        echo: Callable[[str], None] | None = None,
        ready_timeout: float = READY_TIMEOUT,
    ):
        self.state_dir = Path(state_dir).resolve()
        self.echo = echo or (lambda _message: None)
        self.ready_timeout = ready_timeout

    # --- paths and the record of what runs ---------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def log_file(self, role: str) -> Path:
        return self.state_dir / "logs" / f"{role}.log"

    def marker(self, role: str) -> str:
        """A string that only the command line of this environment's `role` process contains."""
        index = leaseservers.index_of(role)
        if index is not None:
            return str(leaseservers.conf_file(self.state_dir, index))
        if (group := postgres.group_of(role)) is not None:
            return str(postgres.data_dir(self.state_dir, group))
        if role == statedb.ROLE:
            return str(postgres.data_dir(self.state_dir, statedb.GROUP))
        return {
            "powerdns": f"--config-dir={powerdns.config_dir(self.state_dir)}",
            "bind": str(bind.conf_file(self.state_dir)),
            "unbound": str(unbound.conf_file(self.state_dir)),
            "workloads": str(workloads.config_file(self.state_dir)),
        }[role]

    def _read_record(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise EnvironmentProblem(
                f"the local environment's state file {self.state_file} is unreadable",
                str(exc),
                f"run `orchestrator dev down`, remove {self.state_file}, then `orchestrator dev up` again",
            ) from exc

    def _write_record(self, record: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One `up` or `down` at a time per state directory (an advisory lock file)."""
        with (self.state_dir / LOCK_FILE).open("a") as handle:
            if not _try_lock(handle):
                self.echo(f"waiting for another `dev up`/`dev down` on {self.state_dir} to finish")
                if not process.wait_until(lambda: _try_lock(handle), LOCK_TIMEOUT, interval=0.2):
                    raise ConflictError(
                        f"another `orchestrator dev up` or `dev down` holds {self.state_dir}",
                        f"it did not finish within {LOCK_TIMEOUT:.0f}s",
                        "wait for it, or find it with `ps aux | grep 'orchestrator dev'`, then run again",
                    )
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _alive(self, role: str, record: dict[str, Any]) -> bool:
        pid = (record.get("servers", {}).get(role) or {}).get("pid")
        return process.is_alive(pid, self.marker(role))

    # --- up ----------------------------------------------------------------------------------

    def up(self, spec: DevSpec) -> dict[str, Any]:
        """Start every server (or nothing, when all run and answer). Returns status() plus "action"."""
        validate(spec)
        programs = binaries.require_all()
        schema = binaries.sqlite_schema()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            return self._up(spec, programs, schema)

    def _up(self, spec: DevSpec, programs: dict[str, str], schema: Path) -> dict[str, Any]:
        previous = self._read_record()
        action = "started"
        if previous:
            problem = self._problem(previous, spec)
            if problem is None:
                self.echo(f"the local environment in {self.state_dir} is already running")
                return {**self.status(), "action": "already-running"}
            if any(self._alive(role, previous) for role in recorded_roles(previous)):
                self.echo(
                    f"the local environment in {self.state_dir} {problem}: stopping it and starting cleanly"
                )
                action = "restarted"
        self._down(purge=False)
        self._check_workload_ports(spec)
        credentials.ensure_secrets(self.state_dir, programs["tsig-keygen"])
        secrets = credentials.load_secrets(self.state_dir)
        prefer = (previous or {}).get("servers", {})
        record: dict[str, Any] = {"spec": spec.to_dict(), "address": LOOPBACK, "servers": {}}
        self._write_record(record)
        try:
            self._start_powerdns(
                record, spec, programs["pdns_server"], schema, secrets, prefer.get("powerdns")
            )
            self._start_bind(record, spec, programs["named"], secrets, prefer.get("bind"))
            self._start_unbound(record, spec, programs["unbound"], prefer.get("unbound"))
            self._start_lease_servers(record, spec, programs["named"], secrets, prefer)
            self._start_workloads(record, spec)
            self._start_postgres_pair(record, spec, secrets["postgres_password"], prefer)
            if spec.state_db:
                self._start_state_db(record, prefer.get(statedb.ROLE))
        except BaseException:
            self._down(purge=False)
            raise
        return {**self.status(), "action": action}

    def _problem(self, record: dict[str, Any], spec: DevSpec) -> str | None:
        """Why the recorded environment is not the running, answering environment of spec (None: it is)."""
        roles = recorded_roles(record)
        dead = [role for role in roles if not self._alive(role, record)]
        if dead:
            if len(dead) == len(roles):
                return "is stopped"
            return "is half-running (" + ", ".join(f"{role} is not running" for role in dead) + ")"
        if record.get("spec") != spec.to_dict():
            return "runs with different zones or workloads"
        servers = record["servers"]
        pdns, named, resolver = servers["powerdns"], servers["bind"], servers["unbound"]
        key = credentials.load_secrets(self.state_dir)["powerdns_api_key"]
        api = f"http://{LOOPBACK}:{pdns['api_port']}/api/v1/servers/{powerdns.SERVER_ID}"
        if probes.http_status(api, {"X-API-Key": key}, timeout=PROBE_TIMEOUT) != 200:
            return "has a PowerDNS API that does not answer"
        for zones, info, role in ((spec.powerdns_zones, pdns, "powerdns"), (spec.bind_zones, named, "bind")):
            missing = [z for z in zones if not probes.soa_served(LOOPBACK, info["port"], z, PROBE_TIMEOUT)]
            if missing:
                return f"has a {role} server that does not serve {', '.join(missing)}"
        if (
            probes.dns_rcode(
                LOOPBACK, resolver["port"], "localhost", "A", recursive=True, timeout=PROBE_TIMEOUT
            )
            is None
        ):
            return "has an Unbound that does not answer"
        for w in spec.workloads:
            if probes.http_status(f"http://{w.address}:{w.port}/", timeout=PROBE_TIMEOUT) != 200:
                return f"has a workload {w.name} that does not answer on {w.address}:{w.port}"
        for name in leaseservers.recorded(servers):
            if not probes.soa_served(LOOPBACK, servers[name]["port"], leaseservers.LEASE_ZONE, PROBE_TIMEOUT):
                return f"has a lease server {name} that does not serve {leaseservers.LEASE_ZONE}"
        password = credentials.load_secrets(self.state_dir)["postgres_password"]
        for name in postgres.recorded(servers):
            if not _pg_answers(postgres.endpoint(servers[name]["port"], password)):
                return f"has a PostgreSQL instance {name} that does not answer"
        if statedb.ROLE in servers:
            superuser, _ = statedb.ensure_secrets(self.state_dir)
            if not _pg_answers(statedb.superuser_endpoint(servers[statedb.ROLE]["port"], superuser)):
                return "has a state database that does not answer"
        return None

    def _check_workload_ports(self, spec: DevSpec) -> None:
        for w in spec.workloads:
            if not tcp_port_free(w.address, w.port):
                holder = port_holder(w.address, w.port)
                raise EnvironmentProblem(
                    f"workload {w.name} cannot listen on {w.address}:{w.port}: the port is in use",
                    f"it is held by {holder}"
                    if holder
                    else "another process listens on that address and port",
                    "stop that process (another local environment? `orchestrator dev down` with its "
                    "ORCHESTRATOR_DEV_DIR), or change the workload's health port in the stack topology",
                )

    def _launch(
        self,
        role: str,
        cmd: list[str],
        prepare: Callable[[bool], dict[str, Any]],
        ready: Callable[[dict[str, Any]], bool],
        waiting_for: str,
        record: dict[str, Any],
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Prepare (pick ports, write config), start, wait until ready; new ports when they were taken."""
        log = self.log_file(role)
        for attempt in range(PORT_ATTEMPTS):
            info = prepare(attempt > 0)
            pid = process.start(cmd, log, env=env, cwd=self.state_dir)
            info.update(pid=pid, log=str(log))
            record["servers"][role] = info
            self._write_record(record)

            def settled(pid: int = pid, info: dict[str, Any] = info) -> bool:
                return process.has_exited(pid) or _clashed(log) or ready(info)

            finished = process.wait_until(settled, self.ready_timeout)
            clashed = _clashed(log)
            if finished and not clashed and not process.has_exited(pid):
                return info
            process.stop_group(pid, STOP_TIMEOUT)
            tail = process.log_tail(log)
            if clashed and attempt + 1 < PORT_ATTEMPTS:
                self.echo(f"{role}: a port was taken meanwhile, trying other ports")
                continue
            if not finished:
                what = f"{role} did not become ready within {self.ready_timeout:.0f}s"
            else:
                code = process.exit_code(pid)
                what = f"{role} stopped while starting" + (f" (exit code {code})" if code is not None else "")
            raise EnvironmentProblem(
                what,
                f"waited for {waiting_for}; last lines of {log}:\n{tail}",
                f"read {log}, fix what it reports, then run `orchestrator dev up` again",
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_powerdns(
        self,
        record: dict[str, Any],
        spec: DevSpec,
        program: str,
        schema: Path,
        secrets: dict[str, str],
        prefer: dict[str, Any] | None,
    ) -> None:
        conf_dir = powerdns.config_dir(self.state_dir)
        db = powerdns.database(self.state_dir)
        powerdns.init_database(db, schema)
        key = secrets["powerdns_api_key"]

        def prepare(retry: bool) -> dict[str, Any]:
            old = {} if retry or not prefer else prefer
            dns_port = pick_dns_port(LOOPBACK, prefer=old.get("port"))
            api_port = pick_tcp_port(LOOPBACK, exclude={dns_port}, prefer=old.get("api_port"))
            conf = conf_dir / "pdns.conf"
            conf_dir.mkdir(parents=True, exist_ok=True)
            text = powerdns.render_config(
                conf_dir=conf_dir, db=db, address=LOOPBACK, dns_port=dns_port, api_port=api_port, api_key=key
            )
            credentials.write_private(conf, text)
            return {"port": dns_port, "api_port": api_port}

        def ready(info: dict[str, Any]) -> bool:
            url = f"http://{LOOPBACK}:{info['api_port']}/api/v1/servers/{powerdns.SERVER_ID}"
            return (
                probes.http_status(url, {"X-API-Key": key}) == 200
                and probes.dns_rcode(LOOPBACK, info["port"], ".") is not None
            )

        cmd = [program, f"--config-dir={conf_dir}"]
        info = self._launch("powerdns", cmd, prepare, ready, "its HTTP API and DNS port to answer", record)
        api_url = f"http://{LOOPBACK}:{info['api_port']}"
        created = powerdns.ensure_zones(api_url, key, spec.powerdns_zones)
        self._await_zones("powerdns", info, spec.powerdns_zones)
        self.echo(
            f"powerdns: DNS {LOOPBACK}:{info['port']}, API {api_url}"
            + (f", created {', '.join(created)}" if created else "")
        )

    def _start_bind(
        self,
        record: dict[str, Any],
        spec: DevSpec,
        program: str,
        secrets: dict[str, str],
        prefer: dict[str, Any] | None,
    ) -> None:
        taken = {record["servers"]["powerdns"]["port"], record["servers"]["powerdns"]["api_port"]}
        info = self._launch_named(
            "bind",
            bind.work_dir(self.state_dir),
            bind.conf_file(self.state_dir),
            spec.bind_zones,
            taken,
            program,
            secrets,
            prefer,
            record,
            "the SOA of each zone to be served",
        )
        self.echo(f"bind: DNS {LOOPBACK}:{info['port']}, zones {', '.join(spec.bind_zones) or '(none)'}")

    def _launch_named(
        self,
        role: str,
        directory: Path,
        conf: Path,
        zones: list[str],
        taken: set[int],
        program: str,
        secrets: dict[str, str],
        prefer: dict[str, Any] | None,
        record: dict[str, Any],
        waiting_for: str,
    ) -> dict[str, Any]:
        """One BIND 9 instance serving `zones` with TSIG-signed updates (the zone server and each
        lease server). Existing zone files and journals are kept across restarts."""
        bind.write_zone_files(directory, zones)

        def prepare(retry: bool) -> dict[str, Any]:
            old = {} if retry or not prefer else prefer
            port = pick_dns_port(LOOPBACK, exclude=taken, prefer=old.get("port"))
            text = bind.render_named_conf(
                directory=directory,
                address=LOOPBACK,
                port=port,
                zones=zones,
                key_file=credentials.tsig_key_file(self.state_dir),
                key_name=secrets["tsig_key_name"],
            )
            conf.write_text(text)
            return {"port": port}

        def ready(info: dict[str, Any]) -> bool:
            return all(probes.soa_served(LOOPBACK, info["port"], z) for z in zones) and (
                probes.dns_rcode(LOOPBACK, info["port"], ".") is not None
            )

        cmd = [program, "-g", "-4", "-c", str(conf)]
        return self._launch(role, cmd, prepare, ready, waiting_for, record)

    def _start_unbound(
        self, record: dict[str, Any], spec: DevSpec, program: str, prefer: dict[str, Any] | None
    ) -> None:
        directory = unbound.work_dir(self.state_dir)
        conf = unbound.conf_file(self.state_dir)
        servers = record["servers"]
        stubs = [unbound.Stub(z, LOOPBACK, servers["powerdns"]["port"]) for z in spec.powerdns_zones]
        stubs += [unbound.Stub(z, LOOPBACK, servers["bind"]["port"]) for z in spec.bind_zones]
        taken = {servers["powerdns"]["port"], servers["powerdns"]["api_port"], servers["bind"]["port"]}

        def prepare(retry: bool) -> dict[str, Any]:
            old = {} if retry or not prefer else prefer
            port = pick_dns_port(LOOPBACK, exclude=taken, prefer=old.get("port"))
            directory.mkdir(parents=True, exist_ok=True)
            conf.write_text(
                unbound.render_config(directory=directory, address=LOOPBACK, port=port, stubs=stubs)
            )
            return {"port": port}

        def ready(info: dict[str, Any]) -> bool:
            return probes.dns_rcode(LOOPBACK, info["port"], "localhost", "A", recursive=True) is not None

        cmd = [program, "-d", "-c", str(conf)]
        info = self._launch("unbound", cmd, prepare, ready, "an answer to a query for localhost", record)
        self.echo(f"unbound: resolver {LOOPBACK}:{info['port']}")

    def _start_lease_servers(
        self,
        record: dict[str, Any],
        spec: DevSpec,
        program: str,
        secrets: dict[str, str],
        prefer: dict[str, Any],
    ) -> None:
        """N independent BIND servers of the lease zone: a quorum needs servers that fail apart."""
        for index in range(spec.lease_servers):
            name = leaseservers.key(index)
            self._start_lease_server(record, index, program, secrets, prefer.get(name))
        if spec.lease_servers:
            ports = ", ".join(
                str(record["servers"][leaseservers.key(i)]["port"]) for i in range(spec.lease_servers)
            )
            self.echo(
                f"lease: {spec.lease_servers} BIND servers on {LOOPBACK} ports {ports}, "
                f"zone {leaseservers.LEASE_ZONE}"
            )

    def _start_lease_server(
        self,
        record: dict[str, Any],
        index: int,
        program: str,
        secrets: dict[str, str],
        prefer: dict[str, Any] | None,
    ) -> dict[str, Any]:
        name = leaseservers.key(index)
        # Existing zone files and journals are kept: a restarted lease server still knows the lease.
        return self._launch_named(
            name,
            leaseservers.work_dir(self.state_dir, index),
            leaseservers.conf_file(self.state_dir, index),
            [leaseservers.LEASE_ZONE],
            _ports_in_use(record, besides=name),
            program,
            secrets,
            prefer,
            record,
            f"the SOA of {leaseservers.LEASE_ZONE} to be served",
        )

    def _start_workloads(self, record: dict[str, Any], spec: DevSpec) -> None:
        config = workloads.config_file(self.state_dir)
        control = workloads.control_dir(self.state_dir)

        def prepare(retry: bool) -> dict[str, Any]:
            workloads.write_config(config, spec.workloads, control)
            for w in spec.workloads:  # a fresh start is a healthy start
                workloads.set_healthy(control, w.name, True)
            return {}

        def ready(info: dict[str, Any]) -> bool:
            return all(probes.http_status(f"http://{w.address}:{w.port}/") == 200 for w in spec.workloads)

        package_root = str(Path(orchestrator.__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "orchestrator.devenv.workloads", str(config)]
        self._launch("workloads", cmd, prepare, ready, "GET / to answer on every workload", record, env=env)
        listed = ", ".join(f"{w.address}:{w.port} ({w.group})" for w in spec.workloads)
        self.echo(f"workloads: {listed or '(none)'}")

    def _await_zones(self, role: str, info: dict[str, Any], zones: list[str]) -> None:
        missing = lambda: [z for z in zones if not probes.soa_served(LOOPBACK, info["port"], z)]  # noqa: E731
        if not process.wait_until(lambda: not missing(), self.ready_timeout):
            log = Path(info["log"])
            raise EnvironmentProblem(
                f"{role} does not serve {', '.join(missing())} within {self.ready_timeout:.0f}s",
                f"waited for the zones' SOA on {LOOPBACK}:{info['port']}; last lines of {log}:\n"
                + process.log_tail(log),
                f"read {log}, fix what it reports, then run `orchestrator dev up` again",
            )

    # --- down --------------------------------------------------------------------------------

    def down(self, *, purge: bool = False) -> None:
        """Stop every process of this environment (recorded or stray). purge: also delete the state."""
        if not self.state_dir.is_dir():
            return
        with self._locked():
            self._down(purge)

    def _down(self, purge: bool) -> None:
        record = self._read_record()
        left: list[str] = []
        stopped: list[int] = []
        if record:
            roles = recorded_roles(record)
            pg_roles = [*postgres.recorded(record.get("servers", {}))]
            pg_roles += [statedb.ROLE] if statedb.ROLE in record.get("servers", {}) else []
            for role in pg_roles:  # fast shutdown first: clean data
                pid = record["servers"][role].get("pid")
                if process.is_alive(pid, self.marker(role)):
                    postgres.stop_fast(pid)
            for role, info in record.get("servers", {}).items():
                pid = info.get("pid")
                if role in roles and process.is_alive(pid, self.marker(role)):
                    stopped.append(pid)
                    if not process.stop_group(pid, STOP_TIMEOUT):
                        left.append(f"{role} (process group {pid})")
        markers = [(role, self.marker(role)) for role in PROCESS_ROLES]
        markers.append((leaseservers.ROLE, leaseservers.stray_marker(self.state_dir)))
        markers.append(("postgres", str(self.state_dir / "postgres") + "/"))
        for role, marker in markers:
            for pid in process.processes_mentioning(marker):
                stopped.append(pid)
                if not process.stop_pid(pid, STOP_TIMEOUT):
                    left.append(f"{role} (pid {pid})")
        # Stopped servers whose parent has exited are reaped by init: give it a moment, so that
        # `ps` shows no <defunct> entries afterwards (they no longer run either way).
        process.wait_until(lambda: not any(process.exists(pid) for pid in stopped), REAP_TIMEOUT)
        if left:
            raise EnvironmentProblem(
                f"could not stop {', '.join(left)} of the local environment in {self.state_dir}",
                "the processes survived SIGTERM and SIGKILL",
                "check them with `ps -o pid,stat,cmd -p <pid>` (a process in state D waits for the kernel)",
            )
        if record:
            for info in record.get("servers", {}).values():
                info["pid"] = None
            self._write_record(record)
        if purge:
            self._purge()

    def _purge(self) -> None:
        if not self.state_dir.exists():
            return
        if not self.state_file.exists() and any(p.name != LOCK_FILE for p in self.state_dir.iterdir()):
            raise UsageError(
                f"{self.state_dir} does not look like a local environment's state directory",
                f"it has no {STATE_FILE}; refusing to delete it",
                "remove it by hand if you are sure",
            )
        shutil.rmtree(self.state_dir)

    def _start_postgres_pair(
        self, record: dict[str, Any], spec: DevSpec, password: str, prefer: dict[str, Any]
    ) -> None:
        """The PostgreSQL pair: the first group is initialised as the primary, the others are
        cloned from it as streaming standbys. Later starts keep the data and each instance's role."""
        if not spec.postgres_groups:
            return
        bindir = binaries.postgres_bindir()
        first, *others = spec.postgres_groups
        if not postgres.data_dir(self.state_dir, first).exists():
            postgres.init_primary(bindir, self.state_dir, first, password)
        # Primaries before the standbys that stream from them.
        pending = list(spec.postgres_groups)
        while pending:
            ready = [
                g
                for g in pending
                if postgres.data_dir(self.state_dir, g).exists()
                and (
                    not postgres.is_standby(self.state_dir, g)
                    or postgres.upstream(self.state_dir, g) not in pending
                )
            ]
            if not ready:  # a group without data: clone it from a running instance
                source = next(g for g in spec.postgres_groups if g not in pending)
                group = pending[0]
                postgres.clone_standby(
                    bindir,
                    self.state_dir,
                    group,
                    source,
                    record["servers"][postgres.role_key(source)]["port"],
                    password,
                )
                ready = [group]
            for group in ready:
                self._start_postgres(record, group, bindir, password, prefer.get(postgres.role_key(group)))
                pending.remove(group)
        roles = ", ".join(
            f"{g} {record['servers'][postgres.role_key(g)]['port']} ({postgres.role_of(self.state_dir, g)})"
            for g in spec.postgres_groups
        )
        self.echo(f"postgres: {LOOPBACK} {roles}")

    def _start_postgres(
        self, record: dict[str, Any], group: str, bindir: Path, password: str, prefer: dict[str, Any] | None
    ) -> dict[str, Any]:
        role = postgres.role_key(group)

        def prepare(retry: bool) -> dict[str, Any]:
            old = {} if retry or not prefer else prefer
            port = pick_tcp_port(
                LOOPBACK, exclude=_ports_in_use(record, besides=role), prefer=old.get("port")
            )
            up = (
                postgres.upstream(self.state_dir, group)
                if postgres.is_standby(self.state_dir, group)
                else None
            )
            up_port = (record["servers"].get(postgres.role_key(up)) or {}).get("port") if up else None
            postgres.render_config(self.state_dir, group, port, up_port, password)
            return {"port": port}

        def ready(info: dict[str, Any]) -> bool:
            return _pg_answers(postgres.endpoint(info["port"], password))

        cmd = postgres.server_command(str(bindir / "postgres"), self.state_dir, group)
        return self._launch(role, cmd, prepare, ready, "a connection to be accepted", record)

    def _start_state_db(self, record: dict[str, Any], prefer: dict[str, Any] | None) -> dict[str, Any]:
        """The team's state database (orchestrator.devenv.statedb): initialised once, kept across restarts."""
        bindir = binaries.postgres_bindir()
        superuser, password = statedb.ensure_secrets(self.state_dir)
        if not postgres.data_dir(self.state_dir, statedb.GROUP).exists():
            postgres.init_primary(bindir, self.state_dir, statedb.GROUP, superuser)

        def prepare(retry: bool) -> dict[str, Any]:
            old = {} if retry or not prefer else prefer
            port = pick_tcp_port(
                LOOPBACK, exclude=_ports_in_use(record, besides=statedb.ROLE), prefer=old.get("port")
            )
            postgres.render_config(self.state_dir, statedb.GROUP, port, None, superuser)
            return {"port": port}

        def ready(info: dict[str, Any]) -> bool:
            return _pg_answers(statedb.superuser_endpoint(info["port"], superuser))

        cmd = postgres.server_command(str(bindir / "postgres"), self.state_dir, statedb.GROUP)
        info = self._launch(statedb.ROLE, cmd, prepare, ready, "a connection to be accepted", record)
        statedb.ensure_database(info["port"], superuser, password)
        where = statedb.pgpass_file(self.state_dir)
        self.echo(f"state database: {statedb.backend_url(info['port'])} (password in {where})")
        return info

    def start_state_db(self) -> tuple[str, Path]:
        """Start the state database in a running environment (a no-op when it runs); its backend."""
        with self._locked():
            record = self._read_record()
            if not record:
                raise EnvironmentProblem(
                    f"no local environment runs in {self.state_dir}",
                    "the state database joins a running environment",
                    "run `orchestrator dev up --state-db`",
                )
            if not self._alive(statedb.ROLE, record):
                self._start_state_db(record, record.get("servers", {}).get(statedb.ROLE))
        return self.state_backend()

    def state_backend(self) -> tuple[str, Path]:
        """(PULUMI_BACKEND_URL, PGPASSFILE) of the running state database."""
        record = self._read_record() or {}
        info = record.get("servers", {}).get(statedb.ROLE)
        if not info or not self._alive(statedb.ROLE, record):
            raise EnvironmentProblem(
                f"the local environment in {self.state_dir} runs no state database",
                "the shared state backend is started only on request",
                "run `orchestrator dev up --state-db`, then run again",
            )
        return statedb.backend_url(info["port"]), statedb.pgpass_file(self.state_dir)

    # --- the PostgreSQL pair, one instance at a time (switchover, failover tests) -------------

    def postgres_endpoint(self, group: str) -> Endpoint:
        """Where the group's instance listens, with the superuser's credentials."""
        record = self._read_record() or {}
        info = record.get("servers", {}).get(postgres.role_key(group))
        if not info:
            raise EnvironmentProblem(
                f"the local environment in {self.state_dir} has no PostgreSQL instance for {group}",
                "the database pair's cluster says `kind: postgres, server: dev`",
                "run `orchestrator dev up` for a stack whose topology lists the database pair",
            )
        return postgres.endpoint(info["port"], credentials.load_secrets(self.state_dir)["postgres_password"])

    def postgres_running(self, group: str) -> bool:
        record = self._read_record() or {}
        return self._alive(postgres.role_key(group), record)

    def stop_postgres(self, group: str) -> None:
        """Fast shutdown of one instance (its data and role stay)."""
        role = postgres.role_key(group)
        with self._locked():
            record = self._read_record() or {}
            info = record.get("servers", {}).get(role) or {}
            pid = info.get("pid")
            if process.is_alive(pid, self.marker(role)) and not postgres.stop_fast(pid):
                process.stop_group(pid, STOP_TIMEOUT)
            if info:
                info["pid"] = None
                self._write_record(record)

    def start_postgres(self, group: str) -> None:
        """Start one stopped instance again, as what its data says it is (primary, standby, fenced)."""
        role = postgres.role_key(group)
        with self._locked():
            record = self._read_record() or {}
            if role not in record.get("servers", {}):
                self.postgres_endpoint(group)  # raises the explanation
            if not self._alive(role, record):
                password = credentials.load_secrets(self.state_dir)["postgres_password"]
                self._start_postgres(
                    record, group, binaries.postgres_bindir(), password, dict(record["servers"][role])
                )

    def rebuild_standby(self, group: str, upstream: str) -> str:
        """Make group's instance a streaming standby of upstream: pg_rewind where it diverged, a
        fresh base backup when rewinding cannot work. Clears a failover's fence. Returns how."""
        src = self.postgres_endpoint(upstream)
        self.stop_postgres(group)
        bindir = binaries.postgres_bindir()
        password = src.password
        if postgres.rewind(bindir, self.state_dir, group, src.port, password):
            how = "pg_rewind"
        else:
            postgres.clone_standby(bindir, self.state_dir, group, upstream, src.port, password)
            how = "base backup"
        postgres.become_standby(self.state_dir, group, upstream)
        self.start_postgres(group)
        return how

    # --- one lease server at a time (quorum tests) ------------------------------------------

    def stop_server(self, role: str, index: int = 0) -> dict[str, Any]:
        """Stop one server of the environment, the others keep running; returns its status entry.

        Only lease servers (role "lease") can be stopped one at a time: the lease's quorum must
        survive one of three servers down, and tests prove it by stopping a real server. Its
        zone file and journal stay, so start_server() brings it back with what it knew.
        """
        name = self._one_server(role, index)
        with self._locked():
            record = self._read_record() or {}
            info = record["servers"][name]
            pid = info.get("pid")
            if process.is_alive(pid, self.marker(name)) and not process.stop_group(pid, STOP_TIMEOUT):
                raise EnvironmentProblem(
                    f"could not stop {name} of the local environment in {self.state_dir}",
                    f"process group {pid} survived SIGTERM and SIGKILL",
                    f"check it with `ps -o pid,stat,cmd -p {pid}`",
                )
            info["pid"] = None
            self._write_record(record)
        return self._status_entry(name)

    def start_server(self, role: str, index: int = 0) -> dict[str, Any]:
        """Start one stopped server again (on its previous port when free); returns its status entry."""
        name = self._one_server(role, index)
        with self._locked():
            record = self._read_record() or {}
            if not self._alive(name, record):
                named = binaries.find(binaries.NAMED)
                secrets = credentials.load_secrets(self.state_dir)
                prefer = dict(record["servers"][name])
                self._start_lease_server(record, index, named, secrets, prefer)
        return self._status_entry(name)

    def _one_server(self, role: str, index: int) -> str:
        """The record key of server `index` of `role`, or a UsageError naming what exists."""
        record = self._read_record() or {}
        names = leaseservers.recorded(record.get("servers", {}))
        name = leaseservers.key(index)
        if role != leaseservers.ROLE or name not in names:
            raise UsageError(
                f"the local environment in {self.state_dir} has no server {role} {index} to stop or start",
                "only lease servers are stopped and started one at a time; "
                + (f"this environment has {', '.join(names)}" if names else "this environment has none"),
                "pass role 'lease' and an index from `orchestrator dev status` (start it with `dev up`)",
            )
        return name

    def _status_entry(self, name: str) -> dict[str, Any]:
        return next(s for s in self.status()["servers"] if s.get("name") == name)

    # --- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What runs where (JSON-able, never a secret)."""
        record = self._read_record()
        alive = {role: self._alive(role, record) for role in recorded_roles(record)} if record else {}
        return build_status(self.state_dir, record, alive)

    # --- workload health ---------------------------------------------------------------------

    def set_workload_health(self, address: str, healthy: bool) -> list[str]:
        """Make the workloads on address answer their health path 200 (healthy) or 503; returns names."""
        record = self._read_record()
        spec = DevSpec.from_dict(record.get("spec", {})) if record else DevSpec()
        matched = [w for w in spec.workloads if w.address == address]
        if not matched:
            known = (
                ", ".join(sorted({w.address for w in spec.workloads}))
                or "(none: the environment was never started)"
            )
            raise UsageError(
                f"no workload of the local environment in {self.state_dir} listens on {address}",
                f"workload addresses: {known}",
                "pass one of those addresses (see `orchestrator dev status`)",
            )
        control = workloads.control_dir(self.state_dir)
        for w in matched:
            workloads.set_healthy(control, w.name, healthy)
        return [w.name for w in matched]


def _ports_in_use(record: dict[str, Any], besides: str) -> set[int]:
    """Every port recorded for the environment's servers except `besides` (so no two collide)."""
    return {
        int(info[field])
        for role, info in record.get("servers", {}).items()
        if role != besides
        for field in ("port", "api_port")
        if info.get(field)
    }


def _pg_answers(ep: Endpoint) -> bool:
    """Accepts a connection and a query (not while starting up or reaching consistency)."""
    import psycopg  # here, not at import: most runs never connect

    try:
        with pg.connect(ep) as conn:
            conn.execute("SELECT 1")
    except (pg.Unreachable, psycopg.Error):
        return False
    return True


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _clashed(log: Path) -> bool:
    tail = process.log_tail(log, 200).lower()
    return any(needle in tail for needle in _PORT_CLASH)
