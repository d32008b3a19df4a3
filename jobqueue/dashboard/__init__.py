"""jobqueue's web dashboard (``pip install 'jobqueue[dashboard]'``).

``create_app(queue)`` returns an ASGI app: serve it with ``jobqueue dashboard``, or
mount it in a host app under any prefix::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from jobqueue.dashboard import create_app

    app = Starlette(routes=[Mount("/admin/jobs", app=create_app(queue, read_only=True))])

Server-rendered HTML that reads without JavaScript, with live updates over
server-sent events (htmx, vendored). It talks to the queue through ``JobQueue`` only,
so it works the same on every backend. Security rules: ``security``; pages: ``pages``.
"""

from .app import create_app
from .context import Redact

__all__ = ["Redact", "create_app"]
