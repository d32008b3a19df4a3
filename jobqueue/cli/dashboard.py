"""``jobqueue dashboard``: serve the web dashboard (``jobqueue.dashboard``) under uvicorn.

Safe by default: it binds 127.0.0.1, and refuses an address other machines can reach
unless ``--token`` or ``--basic`` guards it (exit 2, one line). Needs the extra:
``pip install 'jobqueue[dashboard]'``; starlette and uvicorn are imported only here.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer

from ..errors import InvalidOption, JobQueueError
from ._common import until_signalled
from ._options import queue_of, user_errors

app = typer.Typer()

HostOpt = Annotated[
    str, typer.Option("--host", metavar="ADDRESS", help="Address to bind (loopback by default).")
]
PortOpt = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")]
ReadOnlyOpt = Annotated[
    bool, typer.Option("--read-only", help="Show everything, change nothing (no action).")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", metavar="T", help="Require this token (the printed URL carries it)."),
]
BasicOpt = Annotated[
    str | None,
    typer.Option("--basic", metavar="USER:PASS", help="Require HTTP basic authentication."),
]
RootPathOpt = Annotated[
    str,
    typer.Option(
        "--root-path", metavar="PREFIX", help="URL prefix a reverse proxy serves us under."
    ),
]
#: How long a stop waits for open pages' event streams before closing them.
GRACEFUL_SHUTDOWN = 1


class MissingExtra(JobQueueError):
    """The dashboard's dependencies are not installed."""


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (``localhost`` or a loopback IP)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_exposure(host: str, token: str | None, basic: str | None) -> None:
    """Refuse a non-loopback bind without authentication (InvalidOption, so exit 2)."""
    if not is_loopback(host) and token is None and basic is None:
        raise InvalidOption(
            f"--host {host} is reachable from other machines: give --token T or --basic USER:PASS"
        )


@app.command()
def dashboard(
    ctx: typer.Context,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8181,
    read_only: ReadOnlyOpt = False,
    token: TokenOpt = None,
    basic: BasicOpt = None,
    root_path: RootPathOpt = "",
) -> None:
    """Serve the web dashboard of the queue until Ctrl-C or SIGTERM (exit 0)."""
    with user_errors():
        check_exposure(host, token, basic)
        create_app, uvicorn = _imports()
        web = create_app(queue_of(ctx), read_only=read_only, token=token, basic=basic)
        prefix = root_path.rstrip("/")
        first = web.state.dashboard.nav[0].route if web.state.dashboard.nav else "jobs"
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        query = f"?token={token}" if token else ""
        typer.echo(
            f"jobqueue dashboard: http://{shown}:{port}{prefix}{web.url_path_for(first)}{query}"
        )
        config = uvicorn.Config(
            web, host=host, port=port, root_path=prefix, log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        )  # fmt: skip
        # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again:
        # until_signalled turns that into exit 0, as for every long-running command.
        with until_signalled():
            uvicorn.Server(config).run()


def _imports() -> tuple[Any, Any]:
    try:
        import uvicorn

        from ..dashboard import create_app
    except ImportError as e:
        raise MissingExtra(
            f"the dashboard needs {e.name}: pip install 'jobqueue[dashboard]'"
        ) from None
    return create_app, uvicorn
