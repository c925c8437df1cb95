"""``stockmesh serve``: the HTTP API and the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from stockmesh.entrypoints.cli_options import DbOption, fail


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        db: DbOption = None,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        rate_limit: Annotated[int, typer.Option("--rate-limit", help="Requests per minute per token (0 = off).")] = 600,
        log_level: Annotated[str, typer.Option("--log-level")] = "warning",
        forwarded_allow_ips: Annotated[str, typer.Option(
            "--forwarded-allow-ips", envvar="STOCKMESH_FORWARDED_ALLOW_IPS",
            help="Addresses of reverse proxies whose X-Forwarded-For/-Proto to trust (comma-separated, "
                 "* = any). Default: none; the client is the peer address.")] = "",
        init: Annotated[bool, typer.Option(
            "--init", help="Create the ledger if there is none (without it, a missing ledger is an error).")] = False,
    ) -> None:
        """Serve the HTTP API (OpenAPI at /openapi.json) and the dashboard at http://HOST:PORT/."""
        import uvicorn

        from stockmesh.domain.errors import StockmeshError
        from stockmesh.entrypoints.api import Settings, create_app

        try:
            app_ = create_app(Settings.from_env(db_url=db, rate_limit_per_minute=rate_limit), create=init)
        except StockmeshError as exc:
            raise fail(str(exc)) from exc
        typer.echo(f"stockmesh serving on http://{host}:{port}/ (API docs at /docs)")
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise, so anyone on the
        # machine could rotate it to get a fresh rate-limit bucket per request: trust no proxy
        # unless one is named.
        proxies = forwarded_allow_ips.strip()
        uvicorn.run(app_, host=host, port=port, log_level=log_level, access_log=False,
                    proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
