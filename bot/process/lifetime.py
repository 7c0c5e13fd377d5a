"""A process that must not outlive its parent asks the kernel to signal it when the parent dies (Linux)."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """From now on the kernel sends `signum` to this process when its parent exits; False where unsupported.

    The supervisor calls it in each child before exec, and a server's worker processes call it themselves
    (the action server's Sanic workers), so a killed parent never leaves a worker holding its port.
    """
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signum) == 0
    except (OSError, AttributeError):
        return False
