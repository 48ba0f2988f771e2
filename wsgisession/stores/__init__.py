"""Session stores: the port (base.py), MemoryStore (tests), SQLiteStore (embedded default), MongoStore
(connect-mongo compatible), and AtRestStore (at_rest.py), hashed ids and encryption around any of them."""
