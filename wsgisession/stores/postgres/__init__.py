"""PostgresStore: sessions in PostgreSQL, in connect-pg-simple 10's table.

``store.py`` is the store (psycopg 3's pools, sync and async, opened on first use); ``sql.py``
its statements, the table connect-pg-simple creates and the columns it adds beside them.
"""

from .store import PostgresStore

__all__ = ["PostgresStore"]
