"""Our stores through the contract kit a third party runs too (wsgisession.testing.StoreContract).

MemoryStore, SQLiteStore and MongoStore on each MongoDB-protocol server, each again with its
session JSON encrypted (``crypto=``, conftest.SEALED): the whole contract holds at rest too. The
tests below the kit's are our stores' own promises beyond it.
"""

from __future__ import annotations

import pytest

from wsgisession import SessionError
from wsgisession.stores.base import Record
from wsgisession.testing import COMPARE_AND_SET, MAINTENANCE, TOMBSTONES, USER_INDEX, StoreContract, supports

from .conftest import SEALED, open_store


class OurStoreContract(StoreContract):
    """The kit, on the store of ``kind`` (conftest.open_store)."""

    kind = "memory"

    def make_store(self):
        return open_store(self.kind, self.clock, self.request)

    def test_our_stores_declare_every_capability(self):
        for capability in (COMPARE_AND_SET, USER_INDEX, TOMBSTONES):
            assert supports(self.store, capability), capability
        for method in ("purge", "count_expired", "length", "all", "clear"):
            assert supports(self.store, MAINTENANCE, method), method
        assert self.store.tracks_creation

    def test_an_oversized_session_is_a_clear_error_not_a_broken_record(self):
        big = Record('{"cookie":{},"big":"' + "x" * (16 * 1024 * 1024) + '"}', None)
        for write in (lambda: self.store.write("sid-1", big), lambda: self.store.save("sid-1", big, None)):
            with pytest.raises(SessionError, match="over the store's limit"):
                write()
        assert self.store.load("sid-1") is None


class TestMemoryStore(OurStoreContract):
    kind = "memory"


class TestSealedMemoryStore(OurStoreContract):
    kind = f"memory+{SEALED['memory']}"


class TestSQLiteStore(OurStoreContract):
    kind = "sqlite"


class TestSealedSQLiteStore(OurStoreContract):
    kind = f"sqlite+{SEALED['sqlite']}"


class TestMongoStore(OurStoreContract):
    """On each MongoDB-protocol server (test ids ``[ferretdb]``, ``[mongo-java-server]``)."""

    sealed = False

    @pytest.fixture(autouse=True)
    def _on_each_server(self, mongo_server):
        """Requesting the parametrized ``mongo_server`` runs every test once per server."""

    def make_store(self):
        server = self.request.getfixturevalue("mongo_server")
        return open_store(f"{server}+{SEALED[server]}" if self.sealed else server, self.clock, self.request)


class TestSealedMongoStore(TestMongoStore):
    sealed = True
