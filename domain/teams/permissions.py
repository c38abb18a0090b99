"""Who may do what on a team's routes.

Every team route names one scope (``area:action``). A staff user holds the scopes of their team
role; an API key holds the scopes it was created with. ``write`` includes ``read``.
"""

from __future__ import annotations

ROLES = ("owner", "admin", "staff", "moderator")
ROLE_RANK = {"moderator": 1, "staff": 2, "admin": 3, "owner": 4}

# Areas a team's data is split into. API keys may be given read/write on any of KEY_AREAS.
AREAS = (
    "teams", "members", "api_keys", "contacts", "tags", "segments", "hubs", "memberships",
    "catalog", "orders", "billing", "access", "content", "pages", "media", "email", "community",
    "moderation", "dashboard", "webhooks",
)
# Keys never manage keys or staff: a leaked key must not be able to mint a stronger one.
KEY_AREAS = tuple(a for a in AREAS if a not in {"members", "api_keys"})
ACTIONS = ("read", "write")
ALL_SCOPES = frozenset(f"{a}:{x}" for a in AREAS for x in ACTIONS) | {"teams:delete"}
KEY_SCOPES = frozenset(f"{a}:{x}" for a in KEY_AREAS for x in ACTIONS) - {"teams:write"}


def _scopes(areas_rw: tuple[str, ...], areas_r: tuple[str, ...] = ()) -> frozenset[str]:
    out = {f"{a}:{x}" for a in areas_rw for x in ACTIONS}
    out |= {f"{a}:read" for a in areas_r}
    return frozenset(out)


ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": ALL_SCOPES,
    "admin": ALL_SCOPES - {"teams:delete"},
    "staff": _scopes(
        tuple(a for a in AREAS if a not in {"teams", "members", "api_keys"}), ("teams", "members")
    ),
    "moderator": _scopes(
        ("community", "moderation"), ("teams", "members", "contacts", "hubs", "memberships", "dashboard")
    ),
}


def expand(scopes: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    """``x:write`` implies ``x:read``."""
    out = set(scopes)
    out |= {s.split(":")[0] + ":read" for s in scopes if s.endswith(":write")}
    return frozenset(out)


def role_allows(role: str, scope: str) -> bool:
    return scope in ROLE_SCOPES.get(role, frozenset())


def scopes_allow(scopes: frozenset[str], scope: str) -> bool:
    return scope in expand(scopes)
