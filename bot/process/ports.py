"""Who holds a TCP port: so a start that finds its port taken says which process to stop, not just 'in use'."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port (pid and command line), or pid None when it cannot be seen."""

    port: int
    pid: int | None
    command: str


def is_free(host: str, port: int) -> bool:
    """True when a server could bind host:port now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def holder(port: int, proc: Path = Path("/proc")) -> PortHolder | None:
    """The process listening on `port` (Linux /proc), PortHolder(pid=None) when hidden, None when nobody listens."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                    return PortHolder(port, int(entry.name), command.strip())
        except OSError:
            continue  # a process that ended meanwhile, or one we may not look into
    return PortHolder(port, None, "")


def describe(found: PortHolder) -> str:
    """A sentence that says what to do."""
    if found.pid is None:
        return f"port {found.port} is already in use by a process this user cannot see"
    return (f"port {found.port} is already in use by process {found.pid} ({found.command[:120]}); "
            f"stop it (kill {found.pid}) or choose another port in the settings")
