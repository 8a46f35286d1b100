"""Free loopback ports, and who holds a port that is taken (Linux /proc)."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Collection, Iterable
from pathlib import Path

LOOPBACK = "127.0.0.1"
_ATTEMPTS = 100


def _can_bind(address: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # Servers set SO_REUSEADDR too: a port in TIME_WAIT is free for them, a listener is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


def tcp_port_free(address: str, port: int) -> bool:
    return _can_bind(address, port, socket.SOCK_STREAM)


def dns_port_free(address: str, port: int) -> bool:
    """A DNS port must be free for both TCP and UDP."""
    return _can_bind(address, port, socket.SOCK_STREAM) and _can_bind(address, port, socket.SOCK_DGRAM)


def _ephemeral(address: str, kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def pick_dns_port(address: str = LOOPBACK, exclude: Collection[int] = (), prefer: int | None = None) -> int:
    """A port free for TCP and UDP on address: `prefer` when it is free, else one the kernel hands out."""
    if prefer and prefer not in exclude and dns_port_free(address, prefer):
        return prefer
    for _ in range(_ATTEMPTS):
        port = _ephemeral(address, socket.SOCK_DGRAM)
        if port not in exclude and dns_port_free(address, port):
            return port
    raise OSError(f"no port free for both TCP and UDP on {address} after {_ATTEMPTS} attempts")


def pick_tcp_port(address: str = LOOPBACK, exclude: Collection[int] = (), prefer: int | None = None) -> int:
    if prefer and prefer not in exclude and tcp_port_free(address, prefer):
        return prefer
    for _ in range(_ATTEMPTS):
        port = _ephemeral(address, socket.SOCK_STREAM)
        if port not in exclude and tcp_port_free(address, port):
            return port
    raise OSError(f"no free TCP port on {address} after {_ATTEMPTS} attempts")


def pick_common_tcp_port(addresses: Iterable[str]) -> int:
    """One TCP port that is free on every address (workloads of a topology share a port)."""
    addresses = list(addresses)
    for _ in range(_ATTEMPTS):
        port = _ephemeral(addresses[0], socket.SOCK_STREAM)
        if all(tcp_port_free(a, port) for a in addresses):
            return port
    raise OSError(f"no TCP port free on all of {', '.join(addresses)} after {_ATTEMPTS} attempts")


# --- who holds a port -------------------------------------------------------------------------

_LISTEN = {"tcp": "0A", "udp": "07"}


def proc_net_hex(address: str, port: int) -> str:
    """How /proc/net/{tcp,udp} spells an IPv4 address:port (address in host byte order)."""
    return f"{int.from_bytes(socket.inet_aton(address), sys.byteorder):08X}:{port:04X}"


def socket_inodes(address: str, port: int, proto: str = "tcp", proc: Path = Path("/proc")) -> set[str]:
    """Inodes of sockets bound (listening, for TCP) on address:port or on the wildcard address."""
    wanted = {proc_net_hex(address, port), proc_net_hex("0.0.0.0", port)}
    inodes: set[str] = set()
    try:
        lines = (proc / "net" / proto).read_text().splitlines()[1:]
    except OSError:
        return inodes
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1] in wanted and fields[3] == _LISTEN[proto]:
            inodes.add(fields[9])
    return inodes


def port_holder(address: str, port: int, proto: str = "tcp", proc: Path = Path("/proc")) -> str | None:
    """'pid N: <command line>' of the process that holds address:port, when /proc tells."""
    inodes = socket_inodes(address, port, proto, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    return f"pid {pid_dir.name}: {cmdline.strip()}"
            except OSError:
                continue
    return "a process this user cannot inspect"
