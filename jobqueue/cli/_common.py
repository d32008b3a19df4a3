"""What several commands do the same way, in one place each: logging for the commands
that run until stopped, ending quietly on SIGTERM/SIGINT, and reading params JSON."""

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from ..codec import loads_value
from ..errors import InvalidJob, InvalidOption
from ..queue import JobQueue
from ..worker.signals import SIGNALS

log = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")
LogLevelOpt = Annotated[str, typer.Option("--log-level", help=", ".join(LOG_LEVELS))]

# --- logging -----------------------------------------------------------------------------


def configure_logging(level: str) -> None:
    """Log to stderr from ``level`` up (``worker``, ``scheduler``). At the default, info,
    a worker's first line says which store it serves: a mistyped path shows at once."""
    if level.lower() not in LOG_LEVELS:
        raise InvalidOption(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )


def warn_if_process_local(queue: JobQueue) -> None:
    """A worker or scheduler on ``memory://`` runs, but no other process can reach its
    store (nothing can enqueue for it): legal, and almost never what was meant."""
    if queue.backend.process_local:
        log.warning("%s is visible to this process only: no other can use it", queue.location)


# --- signals -----------------------------------------------------------------------------


class _Stop(Exception):
    """A signal asked an interruptible block to end."""


@contextmanager
def until_signalled(stop: threading.Event | None = None) -> Iterator[None]:
    """SIGTERM and SIGINT end the block quietly: the command then exits 0.

    With ``stop``, the signal only sets it, from a fresh thread (the main thread may hold
    the Event's lock at that instant, see ``jobqueue.worker.signals``), and the block
    ends at its own pace: a scheduler finishes its tick. Without, the block is
    interrupted where it is: a tail of events has nothing to finish.
    """
    handler = _interrupt if stop is None else _setter(stop)
    main = threading.current_thread() is threading.main_thread()  # else signals are not ours
    previous = {s: signal.signal(s, handler) for s in SIGNALS} if main else {}
    try:
        yield
    except (_Stop, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def request(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        threading.Thread(target=stop.set, name="jobqueue-signal").start()

    return request


# --- params ------------------------------------------------------------------------------


def parse_params(params_json: str | None, params_file: str | None = None) -> Any:
    """Params as typed: a JSON object or array (default ``{}``), from PARAMS_JSON or from
    ``--params-file`` (``-`` is stdin), not both."""
    if params_json is not None and params_file is not None:
        raise InvalidJob("give PARAMS_JSON or --params-file, not both")
    if params_file is not None:
        params_json = _read_params_file(params_file)
    if params_json is None:
        return {}
    params = loads_value(params_json, "params")
    if not isinstance(params, dict | list):
        # The API would treat null as "no params"; on the command line it is a mistake.
        kind = "null" if params is None else type(params).__name__
        raise InvalidJob(f"params must be a JSON object or array, not {kind}")
    return params


def _read_params_file(path: str) -> str:
    """The text of ``--params-file``. A plain ``str`` option, not a ``Path``: click
    validates paths itself and would answer a NUL byte with a usage box."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError, ValueError) as e:
        raise InvalidJob(f"cannot read params file {path!r}: {e}") from None
