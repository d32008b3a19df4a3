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
MODULES = (
    "jobs", "workers", "schedules", "monitor", "doctor", "quarantine", "db", "transfer",
    "dashboard", "metrics",
)  # fmt: skip
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
    "dashboard": "dashboard",
    "metrics": "metrics",
}


def module_commands(module: str) -> dict[str, Any]:
    """The click commands of one command module, by name, in definition order, built
    with the root app's settings, as ``app.add_typer`` would have built them."""
    group = typer.main.get_group_from_info(
        TyperInfo(_sub_app(module)),
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    return dict(group.commands)


def module_command(module: str, name: str) -> Any | None:
    """The command ``name`` of one command module, built alone, as ``module_commands``
    builds it (a one-shot command need not pay ~3 ms for its seven neighbours in
    ``jobs``); None when the module has no plain command of that name (a group)."""
    for info in _sub_app(module).registered_commands:
        if info.callback is not None and name == (
            info.name or typer.main.get_command_name(info.callback.__name__)
        ):
            return typer.main.get_command_from_info(
                info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
    return None


def _sub_app(module: str) -> typer.Typer:
    sub_app: typer.Typer = import_module(f"{__name__}.{module}").app
    return sub_app


class CommandTable(MutableMapping[str, Any]):
    """The root group's commands, each module imported when one of its commands is
    looked up, and only that command built (click's lazy-loading pattern, done on the
    mapping so that everything that reads ``group.commands`` sees every command);
    listing them loads them all, in module order."""

    def __init__(self, loaded: Mapping[str, Any]) -> None:
        self._commands = dict(loaded)
        #: The commands of each module loaded whole, in definition order.
        self._names: dict[str, list[str]] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._commands:
            home = HOMES.get(name)
            if home is not None:
                self._load_one(home, name)
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

    def _load_one(self, module: str, name: str) -> None:
        command = None if module in self._names else module_command(module, name)
        if command is None:
            self._load(module)  # a group (``schedule``), or a module loaded already
        else:
            self._commands[name] = command

    def _load(self, module: str) -> None:
        if module not in self._names:
            built = module_commands(module)
            self._names[module] = list(built)
            for name, command in built.items():
                self._commands.setdefault(name, command)

    def _load_all(self) -> None:
        """Every module, each command moved to its module's place: one looked up
        before (built alone, or with its module) came first until now."""
        for module in MODULES:
            self._load(module)
            for name in self._names[module]:
                self._commands[name] = self._commands.pop(name)


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
