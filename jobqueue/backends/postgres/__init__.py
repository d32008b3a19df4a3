"""The PostgreSQL backend (``pip install 'jobqueue[postgres]'``): one store shared by many
hosts. ``backend`` tells the design; each module holds one part."""

from .backend import PostgresBackend

__all__ = ["PostgresBackend"]
