"""The ``stockmesh`` command line. Each command group lives in its own module and is mounted here.

Nothing heavy is imported at module level: numpy, the planners and the drivers load inside the
commands that use them, so ``stockmesh --help`` stays instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stockmesh.entrypoints import (
    cli_allocation,
    cli_api,
    cli_demo,
    cli_forecast,
    cli_governance,
    cli_integration,
    cli_ledger,
    cli_policy,
    cli_sim,
)

app = typer.Typer(
    name="stockmesh",
    help="Inventory kept in step across a network of sites, by governed agents over an event ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        import stockmesh

        typer.echo(f"stockmesh {stockmesh.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
        version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                              callback=_print_version)] = False,
) -> None:
    pass


cli_ledger.register(app)
app.add_typer(cli_policy.app, name="policy")
app.add_typer(cli_forecast.app, name="forecast")
cli_api.register(app)
cli_governance.register(app)
cli_integration.register(app)
cli_sim.register(app)
cli_demo.register(app)
cli_allocation.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
