"""The web workspace's routes: import every page module so each registers on the table."""

from __future__ import annotations

from shelfware.web.pages import (
    audit,
    auth,
    calendar,
    candidates,
    dashboard,
    lists,
    oauth,
    profiles,
    reports,
    reviews,
    saml,
    sso,
)
from shelfware.web.routing import ROUTES, WebRoute, router

PAGES = (
    audit,
    auth,
    calendar,
    candidates,
    dashboard,
    lists,
    oauth,
    profiles,
    reports,
    reviews,
    saml,
    sso,
)

__all__ = ["PAGES", "ROUTES", "WebRoute", "router"]
