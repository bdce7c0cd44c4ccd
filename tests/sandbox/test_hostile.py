"""The hostile-vendor fixture (``--faults hostile=1``): every hostile value is served over real
HTTP by the Rally sandbox, each on an idle account of its own; other sandboxes refuse it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from shelfware.sandbox import SANDBOXES, parse_faults
from shelfware.sandbox.faults import check_supported
from shelfware.sandbox.hostile import CRLF_EMAIL, HOSTILE, LONG_NAME, TWO_EMAILS

from .conftest import NOW, StartRally

ALL = "((Disabled = true) OR (Disabled = false))"


def test_each_hostile_value_is_served_on_an_idle_account_of_its_own(
    start_rally: StartRally,
) -> None:
    server = start_rally(users=40, seed=3, faults=parse_faults("hostile=1"))
    chosen = server.sandbox.hostile
    assert set(chosen) == {h.key for h in HOSTILE}
    assert len({u.object_id for u in chosen.values()}) == len(HOSTILE)  # one account per value
    with server.client() as c:
        answer = c.get("/user", params={"query": ALL, "pagesize": 200, "fetch": "true"})
    assert answer.status_code == 200
    assert "\\u0000" in answer.text  # NUL travels as JSON escapes, as a vendor would send it
    users = {u["ObjectID"]: u for u in json.loads(answer.text)["QueryResult"]["Results"]}
    served = {key: users[user.object_id] for key, user in chosen.items()}
    assert served["nul"]["DisplayName"] == "Nul\x00Name"
    assert served["long_name"]["DisplayName"] == LONG_NAME and len(LONG_NAME) >= 20_000
    assert served["markup"]["UserName"] == "[/bold]x"
    assert served["slack"]["UserName"] == "<!channel>"
    assert served["slack"]["DisplayName"] == "<https://evil.example|Keep my seat>"
    assert "\x1b[31m" in served["ansi"]["DisplayName"] and "\u202e" in served["ansi"]["DisplayName"]
    assert served["csv_formula"]["DisplayName"].startswith("=HYPERLINK(")
    assert served["csv_at"]["DisplayName"] == "@SUM(1)"
    assert served["year_1500"]["LastLoginDate"].startswith("1500-01-01T")
    assert served["year_9999"]["LastLoginDate"].startswith("9999-12-31T")
    assert served["email_crlf"]["EmailAddress"] == CRLF_EMAIL
    assert served["email_two"]["EmailAddress"] == TWO_EMAILS
    assert served["url_name"]["UserName"] == "a/b?c#d@example.com"
    for key, record in served.items():
        assert record["Disabled"] is False and record["SubscriptionAdmin"] is False, key
        if key not in ("year_1500", "year_9999"):
            last = datetime.fromisoformat(record["LastLoginDate"])
            assert NOW - last > timedelta(days=90), key  # idle past every threshold
        valid = next(h.valid_email for h in HOSTILE if h.key == key)
        assert valid == (
            "@" in record["EmailAddress"]
            and record["EmailAddress"].isprintable()
            and "," not in record["EmailAddress"]
        ), key
    # the rest of the organisation is as generated
    others = [u for oid, u in users.items() if oid not in {x.object_id for x in chosen.values()}]
    assert all(u["UserName"].isprintable() and len(u["DisplayName"]) < 100 for u in others)


def test_too_small_an_organisation_and_other_sandboxes_refuse_it() -> None:
    with pytest.raises(ValueError, match="needs 12 enabled non-admin users"):
        SANDBOXES["rally"](5, 1, NOW, 0, parse_faults("hostile=1"))
    with pytest.raises(ValueError, match="'hostile' is not supported by the acme sandbox"):
        check_supported(parse_faults("hostile=1"), "acme", None)
    with pytest.raises(ValueError, match="hostile"):
        parse_faults("hostile=0")
