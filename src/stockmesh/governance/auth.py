"""Users, roles and API tokens.

A token is ``smk_<token id>_<secret>``; the ledger keeps only its SHA-256 (a 256-bit random
secret needs no slow hash: there is nothing to brute-force). A token carries the sites it may
see and move (``*`` = all); a user's role says what it may do:

    permission   viewer  planner  approver  admin
    read           x        x        x        x
    command                 x                 x      move stock (command ingest)
    propose                 x        x        x
    approve                          x        x      approve / reject queued proposals
    govern                                    x      policies, rollout, kill switch, users
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from stockmesh.domain.errors import StockmeshError
from stockmesh.governance.state import GovernanceState

ROLES = ("viewer", "planner", "approver", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "planner": frozenset({"read", "command", "propose"}),
    "approver": frozenset({"read", "propose", "approve"}),
    "admin": frozenset({"read", "command", "propose", "approve", "govern"}),
}
_TOKEN = re.compile(r"smk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class Unauthenticated(StockmeshError):
    """No token, an unknown, revoked or expired one, or a disabled user (HTTP 401)."""


class Forbidden(StockmeshError):
    """Authenticated, but not allowed: the role lacks the permission, or the site is outside the token's scope."""


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str
    sites: tuple[str, ...]
    token_id: str

    @property
    def all_sites(self) -> bool:
        return "*" in self.sites

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def sees(self, site: str) -> bool:
        return self.all_sites or site in self.sites

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"role {self.role} may not {permission}")

    def require_sites(self, sites: tuple[str, ...] | list[str] | set[str]) -> None:
        for site in sites:
            if not self.sees(site):
                raise Forbidden(f"this token is not scoped to site {site}")


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token id, the secret to hand out once)."""
    token_id = secrets.token_hex(8)
    return token_id, f"smk_{token_id}_{secrets.token_urlsafe(32)}"


def authenticate(state: GovernanceState, secret: str | None, now: datetime) -> Principal:
    if not secret or _TOKEN.fullmatch(secret) is None:
        raise Unauthenticated("missing or malformed bearer token")
    digest = hash_token(secret)
    token_id = state.token_by_hash.get(digest)
    token = state.tokens.get(token_id) if token_id else None
    if token is None or not hmac.compare_digest(digest, hash_token(secret)):
        raise Unauthenticated("unknown token")
    if token.revoked:
        raise Unauthenticated("token revoked")
    if token.expires_at is not None and token.expires_at <= now.isoformat():
        raise Unauthenticated("token expired")
    user = state.users.get(token.user_id)
    if user is None or user.disabled:
        raise Unauthenticated("user disabled")
    # A token never sees more than its user: the scopes intersect.
    if "*" in user.sites:
        sites = tuple(token.sites)
    elif "*" in token.sites:
        sites = tuple(user.sites)
    else:
        sites = tuple(s for s in token.sites if s in user.sites)
    return Principal(user.user_id, user.role, sites, token.token_id)
