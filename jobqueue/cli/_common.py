"""What several commands do the same way, in one place each: logging for the commands
that run until stopped, ending quietly on SIGTERM/SIGINT, reading params JSON, and
changing many jobs at once (bulk ``retry`` and ``cancel``: checking what was typed and
printing; the rest is ``jobqueue.bulk``, which the dashboard shares).

Nothing here imports the worker at module level: the one-shot commands import this
module, and ``jobqueue.worker`` would double their start-up time."""

from __future__ import annotations

import importlib.util
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from ..bulk import BulkReport, Change, Preview, Selection, apply_all, preview
from ..codec import loads_value
from ..errors import InvalidJob, InvalidOption
from ..ids import check_id, check_type
from ..job import Status

if TYPE_CHECKING:
    from ..queue import JobQueue

log = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")
LogLevelOpt = Annotated[
    str, typer.Option("--log-level", metavar="LEVEL", help=", ".join(LOG_LEVELS) + ".")
]

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
    from ..worker.signals import SIGNALS  # here: importing jobqueue.worker is slow

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


# --- lazy modules ------------------------------------------------------------------------


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, run on first attribute access (``importlib.util.LazyLoader``,
    the recipe in the importlib docs). For the rich renderers: a command module binds
    them at import, and most of its commands never print a table."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)  # as an import would
    return module


# --- bulk retry and cancel ---------------------------------------------------------------

_LISTED = 20  # skipped or failed jobs a report names one by one


def select(
    ids: Sequence[str] | None,
    status: Sequence[str] | None,
    job_type: str | None,
    allowed: Sequence[Status],
) -> Selection:
    """Check what was typed (InvalidJob, exit 2), before the store is opened: ids or
    ``--status``, not both; ``--type`` only with ``--status``; only ``allowed`` statuses."""
    ids, wanted = list(dict.fromkeys(ids or ())), list(dict.fromkeys(status or ()))
    choices = "|".join(allowed)
    if ids and wanted:
        raise InvalidJob("give job ids or --status, not both")
    if not ids and not wanted:
        raise InvalidJob(f"give job ids, or --status {choices} to act on every such job")
    if ids and job_type is not None:
        raise InvalidJob("--type narrows --status: give it with --status, not with ids")
    for value in wanted:
        if value not in allowed:
            raise InvalidJob(f"--status must be {choices} here, not {value!r}")
    for job_id in ids:
        check_id(job_id)
    if job_type is not None:
        check_type(job_type)
    return Selection(tuple(ids), tuple(cast(Status, s) for s in wanted), job_type)


def preview_lines(found: Preview, verb: str) -> list[str]:
    """``--dry-run``: how many jobs would change, a few of their ids, and (for ids given)
    those that would be refused and why."""
    lines = [f"would {verb} {_count(found.count)}{_samples(found)}"]
    if found.refused:
        lines.append(f"would refuse {len(found.refused)}: {', '.join(found.refused[:_LISTED])}")
    return lines


def _count(n: int) -> str:
    return f"{n} job{'' if n == 1 else 's'}"


def _samples(found: Preview) -> str:
    if not found.samples:
        return ""
    more = found.count - len(found.samples)
    return ": " + ", ".join(found.samples) + (f" and {more} more" if more > 0 else "")


def report_lines(report: BulkReport, verb: str) -> list[str]:
    """One line per skipped or failed job (the first few), then the totals (``verb``
    says what there was none to do)."""
    named = [f"skipped {line}" for line in report.skipped[:_LISTED]]
    named += [f"error {line}" for line in report.errors[:_LISTED]]
    hidden = max(len(report.skipped) - _LISTED, 0) + max(len(report.errors) - _LISTED, 0)
    named += [f"... and {hidden} more not shown"] if hidden else []
    totals = [note.format(_count(n)) for note, n in report.done.items()]
    if report.skipped:
        totals.append(f"skipped {len(report.skipped)}")
    if report.errors:
        totals.append(f"{len(report.errors)} error{'' if len(report.errors) == 1 else 's'}")
    return [*named, "; ".join(totals) or f"no job to {verb}"]


def bulk_change(
    queue: JobQueue,
    selection: Selection,
    *,
    verb: str,
    allowed: Sequence[Status],
    change: Change,
    dry_run: bool,
) -> None:
    """Print the preview, or apply ``change`` and print the report; exit 1 unless every
    selected job was changed. A command's dry run counts exactly (no limits)."""
    if dry_run:
        for line in preview_lines(preview(queue, selection, allowed), verb):
            typer.echo(line)
        return
    report = apply_all(queue, selection, change)
    for line in report_lines(report, verb):
        typer.echo(line)
    if not report.all_done:
        raise typer.Exit(1)
