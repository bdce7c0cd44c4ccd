"""The web workspace's routes: import every page module so each registers on the table."""

from __future__ import annotations

from shelfware.web.pages import (
    audit,
    auth,
    calendar,
    candidate_ops,
    candidates,
    dashboard,
    entitlement_ops,
    lists,
    oauth,
    person,
    profile_edit,
    profiles,
    reports,
    reviews,
    rules,
    saml,
    sso,
)
from shelfware.web.routing import ROUTES, WebRoute, router

PAGES = (
    audit,
    auth,
    calendar,
    candidate_ops,
    candidates,
    dashboard,
    entitlement_ops,
    lists,
    oauth,
    person,
    profile_edit,
    profiles,
    reports,
    reviews,
    rules,
    saml,
    sso,
)

__all__ = ["PAGES", "ROUTES", "WebRoute", "router"]
