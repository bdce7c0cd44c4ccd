"""The connector kinds a workspace offers, with capabilities and least-privilege table."""

from __future__ import annotations

from shelfware.connectors.registry import connector_class, connector_kinds
from shelfware.ranges import View


class PermissionRow(View):
    process: str
    role: str
    scopes: list[str]


class ConnectorKind(View):
    kind: str
    publisher: str
    product: str
    download: bool
    activity: bool
    reclaim: bool
    activity_source: str
    default_url: str | None
    oauth: bool
    regions: bool
    # signs in with a client id and secret (an app registration), not one API token
    client_credentials: bool = False
    permissions: list[PermissionRow]


def catalogue() -> list[ConnectorKind]:
    rows = []
    for kind in connector_kinds():
        cls = connector_class(kind)
        caps = cls.capabilities
        rows.append(
            ConnectorKind(
                kind=kind,
                publisher=cls.publisher,
                product=cls.product,
                download=caps.download,
                activity=caps.activity,
                reclaim=caps.reclaim,
                activity_source=str(caps.activity_source),
                default_url=getattr(cls, "default_url", None),
                oauth=getattr(cls, "oauth", None) is not None or kind == "custom",
                regions=getattr(cls, "default_url_for", None) is not None,
                client_credentials=bool(getattr(cls, "client_credentials", False)),
                permissions=[
                    PermissionRow(process=str(p.process), role=p.role, scopes=list(p.scopes))
                    for p in cls.permissions
                ],
            )
        )
    return rows


def candidate_states() -> list[str]:
    """Every removal candidate state, open ones first (DOMAIN.md's order)."""
    from shelfware.models import CandidateState

    return [state.value for state in CandidateState]
