"""The suite's own PostgreSQL: it starts, and each test gets a database of its own."""

import psycopg

from tests.postgres import PostgresServer


def test_each_test_gets_a_fresh_empty_database(postgres_server: PostgresServer, postgres_url: str) -> None:
    other = postgres_server.new_database()
    assert other != postgres_url
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
    with psycopg.connect(other) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
