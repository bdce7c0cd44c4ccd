"""The overview explains its money: potential savings in two parts (stale seats, unassigned
seats) on the tile, per model and per profile, adding up; every amount with its currency;
tiles lead to the list behind them; trends drawn as lines."""

from __future__ import annotations

import re
from decimal import Decimal

from shelfware.licensing import service as licensing
from tests.reports.conftest import seed_base, seed_org
from tests.web.conftest import Web, signed_in


def amount(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def cells(html: str, table: str, column: int) -> list[str]:
    body = html.split(f'id="{table}"')[1].split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[column] for row in rows]


def test_potential_savings_add_up_everywhere(web: Web) -> None:
    seed_base(web.store.db)
    seed_org(web.store.db)
    client, _ = signed_in(web, "viewer")
    page = client.get("/").text
    with web.store.db.sessions() as session:
        rows = licensing.reconcile(session, web.clock.now())
    parts: list[tuple[Decimal, Decimal]] = []
    for currency, symbol in (("USD", "$"), ("EUR", "€")):
        mine = [r for r in rows if r.currency == currency]
        start = page.index(f'data-currency="{currency}" class="m-savings"')
        tile = re.search(
            r'class="m-savings">([^<]+)</strong>.*?class="m-savings-stale"[^>]*>([^<]+) stale'
            r'.*?class="m-savings-unassigned"[^>]*>([^<]+) unassigned',
            page[start - 40 :],
            re.S,
        )
        assert tile, currency
        total, stale, unassigned = (amount(g) for g in tile.groups())
        assert symbol in tile.group(1)  # the amount carries its currency
        assert total == stale + unassigned
        assert total == sum(Decimal(str(r.potential_savings or 0)) for r in mine)
        assert stale == sum(Decimal(str(r.savings_stale or 0)) for r in mine)
        parts.append((stale, unassigned))
    assert any(s > 0 for s, _ in parts) and any(u > 0 for _, u in parts)  # both parts seen
    # per model: the parts of each row add up to its potential savings
    for stale, unassigned, total in zip(
        cells(page, "per-model", 7),
        cells(page, "per-model", 8),
        cells(page, "per-model", 9),
        strict=True,
    ):
        assert amount(stale) + amount(unassigned) == amount(total)
    # per profile: the stale rows and the unassigned row add up to the tile, per currency
    savings = cells(page, "per-profile", 3)
    usd = sum(amount(s) for s in savings if "$" in s)
    assert usd == sum(Decimal(str(r.potential_savings or 0)) for r in rows if r.currency == "USD")
    assert "unassigned seats (no profile)" in page


def test_tiles_drill_down_and_trends_are_lines(web: Web) -> None:
    seed_base(web.store.db)
    seed_org(web.store.db)
    client, _ = signed_in(web, "viewer")
    page = client.get("/").text
    for target in ("/subscriptions?stale=on", "/candidates", "/reports/people", "/reports/savings"):
        assert f'href="{target}"' in page, target
        assert client.get(target).status_code == 200, target
    stale_tile = re.search(r'id="m-stale">([^<]+)<', page)
    assert stale_tile
    listed = client.get("/subscriptions?stale=on&format=csv").text.strip().split("\r\n")[1:]
    assert len(listed) == int(amount(stale_tile.group(1)))  # the tile is the list behind it
    assert page.count('<polyline class="line-') == 3
    assert 'href="/reports/chargeback?by=department"' in page


def test_money_follows_the_readers_locale(web: Web) -> None:
    seed_base(web.store.db)
    seed_org(web.store.db)
    client, _ = signed_in(web, "viewer")
    german = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).text
    english = client.get("/", headers={"Accept-Language": "en-US"}).text
    assert re.search(r'class="m-spend">[0-9.]+,\d\d\xa0\$<', german)
    assert re.search(r'class="m-spend">\$[0-9,]+\.\d\d<', english)
