"""The web workspace's routes: import every page module so each registers on the table."""

from __future__ import annotations

from shelfware.web.pages import auth, candidates, dashboard, lists, oauth, profiles
from shelfware.web.routing import ROUTES, WebRoute, router

PAGES = (auth, candidates, dashboard, lists, oauth, profiles)

__all__ = ["PAGES", "ROUTES", "WebRoute", "router"]
