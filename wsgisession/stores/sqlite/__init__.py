"""SQLiteStore: sessions in an SQLite file (``store.py``), with its SQL beside it (``sql.py``)."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
