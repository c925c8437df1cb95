"""PostgreSQL for the benchmark: is it there, which version, drop a scratch schema."""

from __future__ import annotations


def pg_unavailable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (the [pg] extra)"
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {url}: {str(exc).strip()[:200]}"
    return None


def _pg_server_version(url: str) -> str | None:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else None


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
