"""Governance commands: users and tokens, policy versions and their rollout, the kill switch.

    stockmesh user add alice --role approver --site STORE-LYON-02
    stockmesh token issue alice                     # prints the token once
    stockmesh governance publish policies/default.yaml
    stockmesh governance activate default 2026.11.1 --reason "first version"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stockmesh.entrypoints.cli_options import DbOption, fail, opened

user_app = typer.Typer(help="Users of the API and dashboard.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
gov_app = typer.Typer(help="Policy versions, rollout and the kill switch.", no_args_is_help=True)
By = Annotated[str, typer.Option("--by", help="Who does this (recorded in the audit trail).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")]


def _write(store: Any, emitted: Any, by: str) -> None:
    from stockmesh.entrypoints.api.services import write

    write(store, emitted, by, source="cli")


@user_app.command("add")
def user_add(
    user_id: Annotated[str, typer.Argument(help="Login id, e.g. alice.")],
    role: Annotated[str, typer.Option(help="viewer, planner, approver or admin.")] = "viewer",
    site: Annotated[list[str] | None, typer.Option("--site", help="A site the user may see (repeat); * = all.")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    by: By = "cli",
    db: DbOption = None,
) -> None:
    """Create a user with a role and the sites it may see and move. Creates the ledger if there is none."""
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db, create=True) as store:
        _write(store, decisions.create_user(state_of(store), user_id, name or user_id, role, site or ["*"], by), by)
    typer.echo(f"user {user_id} ({role}, sites {', '.join(site or ['*'])}) created")


@user_app.command("disable")
def user_disable(user_id: str, reason: Reason = "disabled", by: By = "cli", db: DbOption = None) -> None:
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        _write(store, decisions.disable_user(state_of(store), user_id, by, reason), by)
    typer.echo(f"user {user_id} disabled")


@token_app.command("issue")
def token_issue(
    user_id: Annotated[str, typer.Argument(help="The user the token acts for.")],
    site: Annotated[list[str] | None, typer.Option("--site", help="Narrow the token to these sites.")] = None,
    ttl_days: Annotated[float | None, typer.Option("--ttl-days", help="Expire after this many days.")] = None,
    by: By = "cli",
    db: DbOption = None,
) -> None:
    """Issue a token and print it once (only its SHA-256 is stored)."""
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        emitted, secret = decisions.issue_token(state_of(store), user_id, by, sites=site, ttl_days=ttl_days)
        _write(store, emitted, by)
    typer.echo(secret)


@token_app.command("revoke")
def token_revoke(token_id: str, by: By = "cli", db: DbOption = None) -> None:
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        _write(store, decisions.revoke_token(state_of(store), token_id, by), by)
    typer.echo(f"token {token_id} revoked")


@gov_app.command("publish")
def publish(file: Annotated[Path, typer.Argument(help="A policy document (YAML).")], by: By = "cli",
            activate: Annotated[bool, typer.Option("--activate", help="Activate it too.")] = False,
            db: DbOption = None) -> None:
    """Publish a policy version (the same document again changes nothing)."""
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions
    from stockmesh.governance.policy import load_policy_text

    try:
        doc = load_policy_text(file.read_bytes())
    except (OSError, InvalidInput) as exc:
        raise fail(f"{file}: {exc}") from exc
    with opened(db) as store:
        state = state_of(store)
        emitted = decisions.publish_policy(state, doc, by)
        _write(store, emitted, by)
        record = state.policies.get(doc.name)
        if activate and (record is None or record.active != doc.version):
            _write(store, decisions.activate_policy(state_of(store), doc.name, doc.version, by, "published"), by)
    typer.echo(f"{doc.key} {'published' if emitted else 'already published'}{' and active' if activate else ''}")


@gov_app.command("activate")
def activate(name: str, version: str, reason: Reason = "activated", by: By = "cli", db: DbOption = None) -> None:
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        _write(store, decisions.activate_policy(state_of(store), name, version, by, reason), by)
    typer.echo(f"{name}@{version} active")


@gov_app.command("rollback")
def rollback(name: str, to_version: Annotated[str | None, typer.Option("--to")] = None, reason: Reason = "rollback",
             by: By = "cli", db: DbOption = None) -> None:
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        emitted = decisions.rollback_policy(state_of(store), name, by, reason, to_version)
        _write(store, emitted, by)
    typer.echo(f"{name} rolled back to {emitted[0][1].to_version}")  # type: ignore[attr-defined]


@gov_app.command("canary")
def canary(name: str, version: str, share: Annotated[float, typer.Option(help="Share of SKU x sites, 0-1.")] = 0.1,
           by: By = "cli", db: DbOption = None) -> None:
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        _write(store, decisions.start_canary(state_of(store), name, version, share, by), by)
    typer.echo(f"{name}@{version} canary on {share:.0%} of SKU x sites")


@gov_app.command("shadow")
def shadow(name: str, version: str, by: By = "cli", db: DbOption = None) -> None:
    from stockmesh.entrypoints.api.services import state_of
    from stockmesh.governance import decisions

    with opened(db) as store:
        _write(store, decisions.start_shadow(state_of(store), name, version, by), by)
    typer.echo(f"{name}@{version} in shadow")


@gov_app.command("kill-switch")
def kill_switch(state: Annotated[str, typer.Argument(help="on or off")],
                site: Annotated[str | None, typer.Option("--site", help="One site only.")] = None,
                reason: Reason = "operator", by: By = "cli", db: DbOption = None) -> None:
    """Engage (on) or release (off) the kill switch: while on, nothing executes without a person."""
    from stockmesh.governance import decisions

    if state not in ("on", "off"):
        raise fail("say on or off", 2)
    with opened(db) as store:
        _write(store, decisions.set_kill_switch(state == "on", site, by, reason), by)
    typer.echo(f"kill switch {state} for {site or 'the whole network'}")


@gov_app.command("status")
def status(db: DbOption = None) -> None:
    """Policies with their active, canary and shadow versions; queue size; kill switch."""
    from stockmesh.entrypoints.api.services import state_of

    with opened(db) as store:
        state = state_of(store)
    for name, record in sorted(state.policies.items()):
        canary_text = f", canary {record.canary.version} ({record.canary.share:.0%})" if record.canary else ""
        shadow_text = f", shadow {record.shadow.version}" if record.shadow else ""
        typer.echo(f"{name}: active {record.active or '-'}{canary_text}{shadow_text}; "
                   f"versions {', '.join(record.versions)}")
    queued = sum(1 for r in state.proposals.values() if r.status == "queued")
    typer.echo(f"approval queue: {queued}; kill switch: {'ON' if state.kill_switch else 'off'}"
               f"{'; sites ' + ', '.join(sorted(state.killed_sites)) if state.killed_sites else ''}")


def register(app: typer.Typer) -> None:
    """Add ``user``, ``token`` and ``governance`` command groups."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(gov_app, name="governance")
