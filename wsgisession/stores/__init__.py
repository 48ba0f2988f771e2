"""Session stores: MemoryStore (tests), SQLiteStore (embedded default), MongoStore (connect-mongo compatible)."""
