"""Workload endpoints: one process, one HTTP server per workload address:port.

Run as `python -m orchestrator.devenv.workloads <config.json>`. GET <path> answers
200 `ok <name> <group>`, or 503 while the workload's failing file exists (checked on
every request, so health flips at runtime without a restart). GET / answers 200
`<name> <group>`, so a client sees which group served it.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from orchestrator.devenv.spec import Workload


def work_dir(state_dir: Path) -> Path:
    return state_dir / "workloads"


def config_file(state_dir: Path) -> Path:
    return work_dir(state_dir) / "workloads.json"


def failing_file(control_dir: Path, name: str) -> Path:
    return control_dir / f"{name}.failing"


def control_dir(state_dir: Path) -> Path:
    return work_dir(state_dir) / "health"


def is_healthy(control: Path, name: str) -> bool:
    return not failing_file(control, name).exists()


def set_healthy(control: Path, name: str, healthy: bool) -> None:
    control.mkdir(parents=True, exist_ok=True)
    flag = failing_file(control, name)
    if healthy:
        flag.unlink(missing_ok=True)
    else:
        flag.write_text("failing\n")


def write_config(path: Path, workloads: list[Workload], control: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"control_dir": str(control), "workloads": [w.__dict__ for w in workloads]}
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _handler(workload: Workload, control: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "orchestrator-dev-workload"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == workload.path:
                healthy = is_healthy(control, workload.name)
                word = "ok" if healthy else "failing"
                self._answer(200 if healthy else 503, f"{word} {workload.name} {workload.group}\n")
            elif path == "/":
                self._answer(200, f"{workload.name} {workload.group}\n")
            else:
                self._answer(404, f"not found: {path}\n")

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Workload", workload.name)
            self.send_header("X-Workload-Group", workload.group)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
            sys.stderr.write(f"{workload.name} {self.address_string()} {format % args}\n")

    return Handler


def serve(config: Path) -> int:
    doc = json.loads(config.read_text())
    control = Path(doc["control_dir"])
    servers: list[ThreadingHTTPServer] = []
    for raw in doc["workloads"]:
        workload = Workload(**raw)
        try:
            server = ThreadingHTTPServer((workload.address, workload.port), _handler(workload, control))
        except OSError as exc:
            sys.stderr.write(
                f"error: cannot listen on {workload.address}:{workload.port} ({workload.name}): {exc}\n"
            )
            for started in servers:
                started.server_close()
            return 1
        server.daemon_threads = True
        servers.append(server)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stderr.write(f"serving {server.server_address[0]}:{server.server_address[1]}\n")
    sys.stderr.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m orchestrator.devenv.workloads <config.json>\n")
        sys.exit(2)
    sys.exit(serve(Path(sys.argv[1])))
