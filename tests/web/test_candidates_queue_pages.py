"""The web candidates queue pages with the API's keyset cursor: the first page, then "More"
(htmx: the next rows only) until the end; every candidate once, none cut off at 500."""

from __future__ import annotations

import html
import re

from shelfware.reclamation import service as reclamation
from tests.api.test_candidate_paging import seed
from tests.web.conftest import Web, signed_in

ROW = re.compile(r'<tr data-id="(\d+)">')
MORE = re.compile(r'<tr class="more">.*?href="([^"]+)"', re.S)


def test_more_walks_the_whole_queue(web: Web) -> None:
    seed(web.store.db, web.store.keys, web.clock, count=620)  # over the 500 shown before
    client, _ = signed_in(web, "viewer")
    first = client.get("/candidates")
    assert first.status_code == 200
    assert "620 candidates" in first.text
    seen = [int(i) for i in ROW.findall(first.text)]
    assert 0 < len(seen) < 620
    more = MORE.search(first.text)
    while more:
        rows = client.get(html.unescape(more.group(1)), headers={"HX-Request": "true"})
        assert rows.status_code == 200
        assert "<html" not in rows.text  # only the rows, swapped in place of "More"
        seen += [int(i) for i in ROW.findall(rows.text)]
        more = MORE.search(rows.text)
    with web.store.db.sessions() as session:
        assert seen == [c.id for c in reclamation.list_candidates(session)]


def test_a_foreign_cursor_is_a_400(web: Web) -> None:
    client, _ = signed_in(web, "viewer")
    assert (
        client.get("/candidates", params={"cursor": "WyJpZCIsZmFsc2UsbnVsbCwxXQ"}).status_code
        == 400
    )
