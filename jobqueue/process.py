"""Is the process that owns a job, a temp file or a batch still alive?

A pid alone is not enough: pids are reused. We pair it with the process's start time
(field 22 of ``/proc/<pid>/stat``, in clock ticks since boot), which a new process with
the same pid cannot share. Where /proc is missing we fall back to the pid alone.
"""

from __future__ import annotations

import os


def start_ticks(pid: int) -> float | None:
    """The start time of ``pid`` in clock ticks since boot; None if unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return float(fields[19])
    except (IndexError, ValueError):
        return None


def pid_exists(pid: int) -> bool:
    """Whether some process has this pid (maybe not ours, maybe a reuse: see ``is_alive``)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just is not ours
    return True


def is_alive(pid: int, started: float | None) -> bool:
    """True if ``pid`` runs and, when ``started`` is known, is the same process."""
    if not pid_exists(pid):
        return False
    if started is None:
        return True
    current = start_ticks(pid)
    return current is None or current == started


def hostname() -> str:
    """This host's name: pids are only checked for records written on the same host.
    (What ``socket.gethostname`` returns, without importing ``socket``: ~3 ms of a
    one-shot command such as ``stats``.)"""
    return os.uname().nodename


def owner_token() -> str:
    """``<pid>-<start ticks>``: names the current process in temp and staging file names."""
    started = start_ticks(os.getpid())
    return f"{os.getpid()}-{int(started) if started is not None else 0}"


def token_alive(token: str) -> bool:
    """Whether the process named by an ``owner_token()`` still runs."""
    pid_text, _, started_text = token.partition("-")
    try:
        pid, started = int(pid_text), int(started_text)
    except ValueError:
        return False
    return is_alive(pid, float(started) if started else None)
