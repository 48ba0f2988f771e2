"""MongoStore: sessions in MongoDB, in connect-mongo 6's format.

``store.py`` is the store; ``documents.py`` connect-mongo's documents (and the account fields
beside them); ``expiry.py`` the removal of expired sessions (a TTL index, or a sweep);
``tombstones.py`` the ids a login or logout just ended. The helpers take the collection.
"""

from .expiry import TTLIndexWarning
from .store import MongoStore

__all__ = ["MongoStore", "TTLIndexWarning"]
