"""The ``jobqueue`` command line (INTERFACE.md, "CLI"): a thin layer over JobQueue.

One module per command group (``jobs``, ``workers``, ``schedules``, ``monitor``, and
``doctor``, the one command that knows a backend), each a small Typer app whose
commands are top-level here (``schedule`` is a group of its own). Shared options and
the error-to-exit-code mapping live in ``_options``, what several commands do alike
(logging, signals, params, bulk changes) in ``_common``, output formats in ``_render``.

A module is imported only when one of its commands runs (``LazyCommands``): a one-shot
command such as ``jobqueue enqueue`` then loads neither the worker, nor the scheduler,
nor rich, which together took most of its start-up time.
"""

from collections.abc import Iterator, Mapping, MutableMapping
from importlib import import_module
from typing import Any

import typer
import typer.main
from typer.models import TyperInfo

from ._options import CliState, DataDirOpt, OneLineErrors, StoreOpt, store_target

#: The command modules, in the order ``--help`` lists their commands.
MODULES = ("jobs", "workers", "schedules", "monitor", "doctor", "quarantine", "db", "transfer")
#: Which module defines each command, so that running one imports only its module. A
#: command missing here is still found (every module is then loaded); the test in
#: tests/test_startup.py keeps this table in step with the modules.
HOMES = {
    **dict.fromkeys(
        ["enqueue", "list", "show", "watch", "cancel", "retry", "cleanup", "stats"], "jobs"
    ),
    **dict.fromkeys(["worker", "reap"], "workers"),
    **dict.fromkeys(["schedule", "scheduler"], "schedules"),
    **dict.fromkeys(["events", "workers"], "monitor"),
    "doctor": "doctor",
    "quarantine": "quarantine",
    "db": "db",
    "transfer": "transfer",
}


def module_commands(module: str) -> dict[str, Any]:
    """The click commands of one command module, by name, in definition order, built
    with the root app's settings, as ``app.add_typer`` would have built them."""
    sub_app = import_module(f"{__name__}.{module}").app
    group = typer.main.get_group_from_info(
        TyperInfo(sub_app),
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    return dict(group.commands)


class CommandTable(MutableMapping[str, Any]):
    """The root group's commands, each module imported when one of its commands is
    looked up (click's lazy-loading pattern, done on the mapping so that everything
    that reads ``group.commands`` sees every command); listing them loads them all."""

    def __init__(self, loaded: Mapping[str, Any]) -> None:
        self._commands = dict(loaded)
        self._modules: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        if name not in self._commands:
            if name in HOMES:
                self._load(HOMES[name])
            if name not in self._commands:
                self._load_all()  # a command the table does not know yet, or a typo
        return self._commands[name]

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return iter(self._commands)

    def __len__(self) -> int:
        self._load_all()
        return len(self._commands)

    def __setitem__(self, name: str, command: Any) -> None:
        self._commands[name] = command

    def __delitem__(self, name: str) -> None:
        del self._commands[name]

    def _load(self, module: str) -> None:
        if module not in self._modules:
            self._modules.add(module)
            for name, command in module_commands(module).items():
                self._commands.setdefault(name, command)

    def _load_all(self) -> None:
        for module in MODULES:
            self._load(module)


class LazyCommands(OneLineErrors):
    """The root group, with its commands in a ``CommandTable``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = CommandTable(self.commands)


app = typer.Typer(
    name="jobqueue",
    cls=LazyCommands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: typer then never imports rich, which costs a
    # one-shot command more than all of jobqueue's own modules.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(ctx: typer.Context, store: StoreOpt = None, data_dir: DataDirOpt = None) -> None:
    """Drive and inspect a job queue: a data directory (jobs are JSON files under
    PATH/jobs, default ./data) or any store by URL (--store)."""
    ctx.obj = CliState(
        store_target(ctx, store, data_dir), given=store is not None or data_dir is not None
    )


def main() -> None:
    """Console-script entry point (``jobqueue``); ``python -m jobqueue`` calls it too."""
    app(prog_name="jobqueue")


__all__ = ["app", "main"]
