"""The Roadmunk sandbox over real HTTP: GraphQL (raw httpx and the gql client), regions, auth,
errors inside HTTP 200, faults and the "Download User CSV" report."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from shelfware.sandbox import PROFILE_PATHS, SANDBOXES, FaultSpec, serve_in_thread
from shelfware.sandbox.org import BOUNDARY_DAYS, BOUNDARY_GAP
from shelfware.sandbox.roadmunk import (
    GRAPHQL_PATH,
    MAX_FIRST,
    REGION_GATEWAYS,
    REPORT_COLUMNS,
    REPORT_PATH,
    ROLES,
    RoadmunkOrganisation,
    RoadmunkSandbox,
    create_roadmunk_app,
    generate_roadmunk_org,
    roadmunk_user_id,
)

from .conftest import NOW

USERS = """
query Users($first: Int, $after: String) {
  account {
    id
    users(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      totalCount
      nodes { id email firstName lastName role active lastLogin createdAt }
    }
  }
}
"""


@dataclass
class Roadmunk:
    org: RoadmunkOrganisation
    sandbox: RoadmunkSandbox
    url: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.org.api_key if token is None else token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


StartRoadmunk = Callable[..., Roadmunk]


@pytest.fixture
def start_roadmunk() -> Iterator[StartRoadmunk]:
    running = []

    def start(
        users: int = 120,
        seed: int = 3,
        region: str = "app",
        faults: FaultSpec | None = None,
        latency_ms: float = 0,
    ) -> Roadmunk:
        org = generate_roadmunk_org(users, seed, NOW, region)
        app = create_roadmunk_app(org, faults or FaultSpec(), latency_ms)
        server = serve_in_thread(app)
        running.append(server)
        return Roadmunk(org, app.state.sandbox, server.url)

    yield start
    for server in running:
        server.stop()


def post(client: httpx.Client, query: str, **variables: Any) -> httpx.Response:
    return client.post(GRAPHQL_PATH, json={"query": query, "variables": variables})


def all_nodes(client: httpx.Client, first: int) -> tuple[list[dict[str, Any]], int, int]:
    """Page to the end by endCursor: (nodes, totalCount, requests)."""
    nodes: list[dict[str, Any]] = []
    after, requests = None, 0
    while True:
        response = post(client, USERS, first=first, after=after)
        requests += 1
        assert response.status_code == 200
        body = response.json()
        assert "errors" not in body
        users = body["data"]["account"]["users"]
        nodes += users["nodes"]
        if not users["pageInfo"]["hasNextPage"]:
            return nodes, users["totalCount"], requests
        after = users["pageInfo"]["endCursor"]


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def test_paging_to_the_end_returns_every_user_once_as_generated(
    start_roadmunk: StartRoadmunk,
) -> None:
    rm = start_roadmunk(users=120)
    with rm.client() as c:
        nodes, total, requests = all_nodes(c, first=25)
    assert (total, requests) == (120, 5)
    ids = [n["id"] for n in nodes]
    assert ids == sorted(ids) and len(set(ids)) == 120
    by_id = {roadmunk_user_id(u): u for u in rm.org.users}
    assert set(ids) == set(by_id)
    for node in nodes:
        user = by_id[node["id"]]
        assert node["email"] == (user.email or user.username)
        assert (node["firstName"], node["lastName"]) == (user.first_name, user.last_name)
        assert node["active"] is (not user.disabled)
        assert node["role"] == rm.org.role(user) and node["role"] in ROLES
        assert parse_iso(node["createdAt"]) == user.creation_date
        if user.last_activity is None:
            assert node["lastLogin"] is None
        else:
            assert parse_iso(node["lastLogin"]) == user.last_activity
    # The data covers what a connector must cope with.
    assert {n["role"] for n in nodes} == set(ROLES)
    assert any(not n["active"] for n in nodes) and any(n["lastLogin"] is None for n in nodes)


def test_dates_follow_now_and_keep_away_from_the_idle_boundaries() -> None:
    org = generate_roadmunk_org(400, 8, NOW, "eu")
    later = generate_roadmunk_org(400, 8, NOW + timedelta(days=10), "eu")
    for a, b in zip(org.users, later.users, strict=True):
        assert b.creation_date - a.creation_date == timedelta(days=10)
        if a.last_activity is not None:
            age = NOW - a.last_activity
            assert all(abs(age - timedelta(days=d)) >= BOUNDARY_GAP for d in BOUNDARY_DAYS)
    assert org.roles == later.roles and org.api_key == later.api_key


def test_the_gql_client_pages_through_and_sees_errors(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=60)
    transport = HTTPXTransport(
        url=rm.url + GRAPHQL_PATH, headers={"Authorization": f"Bearer {rm.org.api_key}"}
    )
    query = gql(USERS)
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        seen: list[str] = []
        after = None
        while True:
            query.variable_values = {"first": 40, "after": after}
            result = session.execute(query)
            users = result["account"]["users"]
            seen += [n["id"] for n in users["nodes"]]
            if not users["pageInfo"]["hasNextPage"]:
                break
            after = users["pageInfo"]["endCursor"]
        assert sorted(seen) == sorted(roadmunk_user_id(u) for u in rm.org.users)
        query.variable_values = {"first": MAX_FIRST + 1}
        with pytest.raises(TransportQueryError, match="first"):
            session.execute(query)
        # The client validated locally against the schema it fetched by introspection.
        with pytest.raises(Exception, match="mutation operation is not supported"):
            session.execute(gql('mutation { deactivateUser(id: "x") { id } }'))


@pytest.mark.parametrize("first", [MAX_FIRST + 1, 0, -5])
def test_first_out_of_range_is_an_error_inside_200(
    start_roadmunk: StartRoadmunk, first: int
) -> None:
    rm = start_roadmunk(users=10)
    with rm.client() as c:
        response = post(c, USERS, first=first)
    assert response.status_code == 200
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'first'" in error["message"] and str(MAX_FIRST) in error["message"]
    assert error["path"] == ["account", "users"]
    assert body["data"]["account"]["users"] is None


def test_first_at_the_cap_and_the_default(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=130)
    with rm.client() as c:
        capped = post(c, USERS, first=MAX_FIRST).json()["data"]["account"]["users"]
        default = post(c, "{ account { users { nodes { id } } } }").json()
    assert len(capped["nodes"]) == MAX_FIRST and capped["pageInfo"]["hasNextPage"]
    assert len(default["data"]["account"]["users"]["nodes"]) == 50


def test_bad_cursor_is_an_error_inside_200(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=10)
    with rm.client() as c:
        body = post(c, USERS, first=5, after="not-a-cursor").json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cursor" in body["errors"][0]["message"]


def test_cursor_stays_valid_when_users_change(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=30)
    with rm.client() as c:
        first = post(c, USERS, first=10).json()["data"]["account"]["users"]
        cursor = first["pageInfo"]["endCursor"]
        last_seen = first["nodes"][-1]["id"]
        gone = next(u for u in rm.org.users if roadmunk_user_id(u) == last_seen)
        rm.org.users.remove(gone)
        rest = post(c, USERS, first=100, after=cursor).json()["data"]["account"]["users"]
    assert all(n["id"] > last_seen for n in rest["nodes"])
    assert len(first["nodes"]) + len(rest["nodes"]) == 30 and rest["totalCount"] == 29


def test_missing_bearer_is_401_and_a_wrong_token_an_error_inside_200(
    start_roadmunk: StartRoadmunk,
) -> None:
    rm = start_roadmunk(users=5)
    eu = generate_roadmunk_org(5, 3, NOW, "eu")
    query = {"query": "{ account { id } }"}
    with httpx.Client(base_url=rm.url) as c:
        missing = c.post(GRAPHQL_PATH, json=query)
        basic = c.post(GRAPHQL_PATH, json=query, headers={"Authorization": "Basic eDp5"})
    with rm.client("rmk_wrong") as c:
        wrong = c.post(GRAPHQL_PATH, json=query)
    with rm.client(eu.api_key) as c:
        other_region = c.post(GRAPHQL_PATH, json=query)
    for response in (missing, basic):
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for response in (wrong, other_region):
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "rmk_wrong" not in wrong.text


@pytest.mark.parametrize(
    ("query", "code", "named"),
    [
        ("{ account { id usrs } }", "GRAPHQL_VALIDATION_FAILED", "usrs"),
        ('{ account { users(first: "ten") { totalCount } } }', "GRAPHQL_VALIDATION_FAILED", "Int"),
        ("{ account { id ", "GRAPHQL_PARSE_FAILED", "Syntax Error"),
        ('mutation { deactivateUser(id: "x") { id } }', "GRAPHQL_VALIDATION_FAILED", "mutation"),
    ],
)
def test_invalid_queries_are_errors_inside_200_naming_the_problem(
    start_roadmunk: StartRoadmunk, query: str, code: str, named: str
) -> None:
    rm = start_roadmunk(users=5)
    with rm.client() as c:
        response = post(c, query)
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code
    assert named in error["message"]
    assert error["locations"]


def test_variables_of_the_wrong_type_and_operation_names(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=5)
    two = "query A { account { id } } query B { account { region } }"
    with rm.client() as c:
        wrong_type = post(c, USERS, first="many").json()
        chosen = c.post(GRAPHQL_PATH, json={"query": two, "operationName": "B"}).json()
        ambiguous = c.post(GRAPHQL_PATH, json={"query": two}).json()
        not_json = c.post(GRAPHQL_PATH, content=b"{query", headers={"Content-Type": "text/plain"})
        no_query = c.post(GRAPHQL_PATH, json={"variables": {}})
        bad_vars = c.post(GRAPHQL_PATH, json={"query": USERS, "variables": [1]})
        get = c.get(GRAPHQL_PATH)
    assert wrong_type["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$first" in wrong_type["errors"][0]["message"]
    assert chosen == {"data": {"account": {"region": "app"}}}
    assert "operation name" in ambiguous["errors"][0]["message"]
    for response in (not_json, no_query, bad_vars):
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert get.status_code == 405


def test_each_region_serves_its_own_account(start_roadmunk: StartRoadmunk) -> None:
    assert set(REGION_GATEWAYS) == {"app", "eu", "apac"}
    for region, url in REGION_GATEWAYS.items():
        assert httpx.URL(url).host == f"{region}-gateway.roadmunk.com"
    accounts = {}
    emails = {}
    for region in REGION_GATEWAYS:
        rm = start_roadmunk(users=40, seed=3, region=region)
        with rm.client() as c:
            body = post(c, "{ account { id name region } }").json()
            nodes, _, _ = all_nodes(c, 100)
        accounts[region] = body["data"]["account"]
        emails[region] = {n["email"] for n in nodes}
        assert accounts[region]["region"] == region
        assert accounts[region]["id"] == rm.org.account_id
    assert len({a["id"] for a in accounts.values()}) == 3
    assert "Europe" in accounts["eu"]["name"]
    assert emails["app"] != emails["eu"] != emails["apac"]
    with pytest.raises(ValueError, match="unknown Roadmunk region 'us'"):
        generate_roadmunk_org(5, 3, NOW, "us")


def test_single_user_lookup(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=8)
    user = rm.org.users[3]
    query = "query($id: ID!) { account { user(id: $id) { id email active } } }"
    with rm.client() as c:
        found = post(c, query, id=roadmunk_user_id(user)).json()
        missing = post(c, query, id="0" * 24).json()
    assert found["data"]["account"]["user"]["email"] == (user.email or user.username)
    assert missing == {"data": {"account": {"user": None}}}


def test_user_report_matches_the_graphql_data(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=150)
    with rm.client() as c:
        report = c.get(REPORT_PATH)
        nodes, _, _ = all_nodes(c, 100)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    raw = report.content
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[-1] == "" and all(line.startswith('"') for line in lines[:-1])
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(REPORT_COLUMNS)
    by_email = {n["email"]: n for n in nodes}
    assert len(rows) == len(nodes) == len({r["Emails"] for r in rows})
    for row in rows:
        node = by_email[row["Emails"]]
        assert row["Status"] == ("Active" if node["active"] else "Inactive")
        assert (row["First Name"], row["Last Name"], row["Role"]) == (
            node["firstName"],
            node["lastName"],
            node["role"],
        )
        if node["lastLogin"] is None:
            assert row["Last Login"] == ""
        else:
            shown = datetime.strptime(row["Last Login"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            assert timedelta(0) <= parse_iso(node["lastLogin"]) - shown < timedelta(minutes=1)
    assert {r["Status"] for r in rows} == {"Active", "Inactive"}
    assert rm.sandbox.reports == 1


def test_user_report_needs_the_token_and_follows_changes(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=20)
    with httpx.Client(base_url=rm.url) as c:
        assert c.get(REPORT_PATH).status_code == 401
    with rm.client("rmk_wrong") as c:
        assert c.get(REPORT_PATH).status_code == 401
    user = next(u for u in rm.org.users[1:] if not u.disabled)
    user.disabled = True  # deactivated by hand in Roadmunk
    email = user.email or user.username
    with rm.client() as c:
        rows = list(csv.DictReader(io.StringIO(c.get(REPORT_PATH).content.decode("utf-8-sig"))))
        node = post(
            c, "query($id: ID!) { account { user(id: $id) { active } } }", id=roadmunk_user_id(user)
        ).json()
    assert next(r for r in rows if r["Emails"] == email)["Status"] == "Inactive"
    assert node["data"]["account"]["user"]["active"] is False


def test_page_faults(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=30, faults=FaultSpec(fail_page=2, envelope_error_page=3))
    with rm.client() as c:
        page1 = post(c, USERS, first=10).json()["data"]["account"]["users"]
        cursor = page1["pageInfo"]["endCursor"]
        page2 = post(c, USERS, first=10, after=cursor)
        page3_cursor = _cursor_after(c, 20)
        page3 = post(c, USERS, first=10, after=page3_cursor)
    assert page2.status_code == 500
    assert page2.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert page3.status_code == 200
    body = page3.json()
    assert body["data"]["account"]["users"] is None
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert rm.sandbox.injected_errors == 2


def _cursor_after(client: httpx.Client, count: int) -> str:
    """The endCursor after ``count`` users, read in one page (not hitting the faulty pages)."""
    users = post(client, USERS, first=count).json()["data"]["account"]["users"]
    return str(users["pageInfo"]["endCursor"])


def test_random_errors_and_latency(start_roadmunk: StartRoadmunk) -> None:
    rm = start_roadmunk(users=5, faults=FaultSpec(error_rate=1.0, seed=4))
    with rm.client() as c:
        statuses = {post(c, "{ account { id } }").status_code for _ in range(12)}
    assert statuses == {500, 503}
    hanging = start_roadmunk(users=5, faults=FaultSpec(timeout_rate=1.0, hang_s=0.2))
    with hanging.client() as c:
        started = time.perf_counter()
        assert post(c, "{ account { id } }").status_code == 504
        assert time.perf_counter() - started >= 0.2
    assert hanging.sandbox.injected_timeouts == 1
    slow = start_roadmunk(users=5, latency_ms=150)
    with slow.client() as c:
        started = time.perf_counter()
        assert post(c, "{ account { id } }").status_code == 200
        assert time.perf_counter() - started >= 0.15


def test_registered_as_a_sandbox_builder(now: datetime) -> None:
    app, org = SANDBOXES["roadmunk"](12, 5, now, 0, FaultSpec())
    assert isinstance(org, RoadmunkOrganisation) and org.region == "app"
    assert len(org.users) == 12 and org.api_key.startswith("rmk_")
    assert PROFILE_PATHS["roadmunk"] == ""
    with serve_in_thread(app) as server:
        body = httpx.post(
            server.url + PROFILE_PATHS["roadmunk"] + GRAPHQL_PATH,
            json={"query": "{ account { id region } }"},
            headers={"Authorization": f"Bearer {org.api_key}"},
        ).json()
    assert body["data"]["account"]["region"] == "app"
