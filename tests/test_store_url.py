"""open_store: SQLite and MongoDB stores from URLs (no I/O: nothing here needs a server)."""

from __future__ import annotations

import os

import pytest

from wsgisession import ConfigurationError, SQLiteStore
from wsgisession.stores.url import open_store


@pytest.mark.parametrize(("url", "path"), [
    pytest.param("sqlite:///sessions.sqlite3", "sessions.sqlite3", id="relative"),
    pytest.param("sqlite:///data/s.sqlite3", "data/s.sqlite3", id="relative-dir"),
    pytest.param("sqlite:///../s.sqlite3", "../s.sqlite3", id="parent"),
    pytest.param("sqlite:////var/lib/app/s.sqlite3", "/var/lib/app/s.sqlite3", id="absolute"),
    pytest.param("sqlite:///my%20file.sqlite3", "my%20file.sqlite3", id="taken-as-written"),
    pytest.param("sqlite:///:memory:", ":memory:", id="memory"),
    pytest.param("sqlite:///file:s.sqlite3", "./file:s.sqlite3", id="file-uri-taken-as-a-name"),
    pytest.param("sqlite:////data/file:s.sqlite3", "/data/file:s.sqlite3", id="absolute-file-colon"),
])
def test_sqlite_urls_follow_sqlalchemy(url, path):
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert (store.path, store.table) == (path, "sessions")


def test_sqlite_table_and_timeout(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/s.sqlite3", table="web_sessions", timeout=7)
    assert (store.path, store.table, store.timeout) == (f"{tmp_path}/s.sqlite3", "web_sessions", 7)
    assert not os.path.exists(store.path)  # nothing opened yet


def test_a_relative_sqlite_path_is_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///s.sqlite3")
    store.set("sid", {"cookie": {"expires": None}, "n": 1})
    store.close()
    assert (tmp_path / "s.sqlite3").is_file()


def test_mongodb_urls_build_a_mongo_store_without_connecting():
    from wsgisession import MongoStore

    store = open_store("mongodb://user:secret@127.0.0.1:1/app?authSource=admin", collection="web", timeout=1.5,
                       auto_remove="disabled")
    try:
        assert isinstance(store, MongoStore)
        assert (store.collection.full_name, store.auto_remove) == ("app.web", "disabled")
        assert store.collection.database.client.options.server_selection_timeout == 1.5
        assert "secret" not in repr(store)
    finally:
        store.close()


@pytest.mark.parametrize(("url", "says"), [
    pytest.param("", "unsupported store URL", id="empty"),
    pytest.param("sessions.sqlite3", "unsupported store URL", id="a-bare-path"),
    pytest.param("mysql://u:secret@host/db", "unsupported store scheme 'mysql'", id="other-scheme"),
    pytest.param("user:secret@host/db", "unsupported store URL", id="no-scheme"),
    pytest.param("sqlite://", "sqlite:////absolute", id="sqlite-no-path"),
    pytest.param("sqlite:///", "sqlite:////absolute", id="sqlite-empty-path"),
    pytest.param("sqlite://host/s.sqlite3", "has no host", id="sqlite-host"),
    pytest.param("sqlite:///s.sqlite3?timeout=5", "no query parameters", id="sqlite-query"),
    pytest.param("mongodb://u:secret@127.0.0.1:1", "names no database", id="mongo-no-database"),
    pytest.param("mongodb://u:secret@127.0.0.1:1/?tls=true", "names no database", id="mongo-only-options"),
    pytest.param("mongodb+srv://u:secret@host:27017/db", "invalid MongoDB URL", id="srv-with-port"),
    pytest.param("mongodb://127.0.0.1:99999999/db", "invalid MongoDB URL", id="bad-port"),
    *(pytest.param(f"mongodb://u:secret@{hosts}/db", "write an IPv6 host in brackets", id=f"ipv6-{hosts}")
      for hosts in ("::1", "::1:27017", "[::1:27017", "::1]:27017", "[::1]]:27017", "[::1]x:27017", "[zz]:27017",
                    "[127.0.0.1]:27017", "h1:27017,[::1")),
])
def test_bad_urls_say_what_to_write_and_never_repeat_a_password(url, says):
    with pytest.raises(ConfigurationError, match=says) as caught:
        open_store(url)
    assert "secret" not in str(caught.value)
    assert str(caught.value).endswith(".")  # a sentence


@pytest.mark.parametrize("hosts", ["[::1]", "[::1]:27017", "[fe80::1%25eth0]:27017", "h1:1,[::1]:2,h3",
                                   "%2Ftmp%2Fmongodb-27017.sock"])
def test_ipv6_hosts_in_brackets_are_fine(hosts):
    open_store(f"mongodb://{hosts}/db").close()


@pytest.mark.parametrize("option", ["tlsCAFile", "tlsCertificateKeyFile", "tlsCRLFile"])
def test_a_tls_file_that_cannot_be_read_is_a_configuration_error(tmp_path, option):
    for path in (tmp_path / "missing.pem", tmp_path):  # missing, and a directory
        with pytest.raises(ConfigurationError, match=f"the MongoDB URL's {option} cannot be read") as caught:
            open_store(f"mongodb://u:secret@127.0.0.1:1/db?tls=true&{option}={path}")
        assert "secret" not in str(caught.value) and str(path) not in str(caught.value)
        assert "check the path" in str(caught.value)


def test_a_sqlite_url_names_the_file_literally(tmp_path, monkeypatch):
    # SQLite reads a name starting with "file:" as a URI (this build has SQLITE_USE_URI): not from a URL
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///file:s.sqlite3")
    store.set("sid", {"cookie": {"expires": None}, "n": 1})
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file:s.sqlite3"]


def test_not_a_str():
    with pytest.raises(ConfigurationError, match="must be a str"):
        open_store(b"sqlite:///s.sqlite3")  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "options"), [
    pytest.param("sqlite:///s.sqlite3", {"table": "no spaces please"}, id="sqlite-table"),
    pytest.param("sqlite:///s.sqlite3", {"timeout": 0}, id="sqlite-timeout"),
    pytest.param("mongodb://127.0.0.1:1/db", {"collection": ""}, id="mongo-collection"),
    pytest.param("mongodb://127.0.0.1:1/db", {"timeout": -1}, id="mongo-timeout"),
    pytest.param("mongodb://127.0.0.1:1/db", {"auto_remove": "sometimes"}, id="mongo-auto-remove"),
])
def test_bad_options_are_the_stores_configuration_errors(url, options):
    with pytest.raises(ConfigurationError):
        open_store(url, **options)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_build_a_postgres_store_without_connecting(scheme):
    from wsgisession import PostgresStore

    store = open_store(f"{scheme}://user:secret@127.0.0.1:1/app", timeout=1.5)
    try:
        assert isinstance(store, PostgresStore) and store._pool is None  # nothing opened
        assert (store.table, store.pool_timeout, store.connect_timeout) == ("session", 1.5, 2)
        assert open_store(f"{scheme}://127.0.0.1:1/app", table="web_sessions").table == "web_sessions"
        assert "secret" not in repr(store)
    finally:
        store.close()


@pytest.mark.parametrize(("url", "options"), [
    pytest.param("postgresql://127.0.0.1:1/db", {"table": "no spaces please"}, id="postgres-table"),
    pytest.param("postgresql://127.0.0.1:1/db", {"timeout": 0}, id="postgres-timeout"),
    pytest.param("postgresql://u:secret@127.0.0.1:1/db?nonsense=1", {}, id="postgres-unparsable"),
])
def test_bad_postgresql_options_are_configuration_errors(url, options):
    with pytest.raises(ConfigurationError) as caught:
        open_store(url, **options)
    assert "secret" not in str(caught.value)
