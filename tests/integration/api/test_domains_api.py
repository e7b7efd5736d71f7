"""`/workspaces/{wsId}/apps/{appId}/domains`: add (validated, unique in the platform), list,
show by id or hostname, delete; another workspace sees nothing; bad input is a problem
document and changes nothing."""

from __future__ import annotations

import api_helpers as h
import httpx


def domains_of(tenant: h.Tenant, app: dict[str, object]) -> str:
    return f"{tenant.base}/apps/{app['id']}/domains"


async def test_add_list_show_delete(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, object]
) -> None:
    url = domains_of(alpha, app_a)
    r = await client.post(url, json={"hostname": "Api.Example.com"}, headers=alpha.headers)
    assert r.status_code == 201, r.text
    added = r.json()
    assert set(added) == {
        "id", "hostname", "tag", "status", "reason", "dnsRecord", "url", "certificate",
        "nextCheckAt", "createdAt", "updatedAt",
    }  # fmt: skip
    assert added["id"].startswith("dom_")
    assert (added["hostname"], added["tag"], added["status"]) == (
        "api.example.com",
        None,
        "pendingDns",
    )
    assert added["dnsRecord"] == {
        "type": "CNAME",
        "name": "api.example.com",
        "value": f"{app_a['name']}.alpha.localhost",
    }
    assert added["certificate"] is None
    assert added["url"].startswith("http://api.example.com")
    listed = (await client.get(url, headers=alpha.headers)).json()
    assert [d["hostname"] for d in listed] == ["api.example.com"]
    for key in (added["id"], "api.example.com", "API.example.com"):
        r = await client.get(f"{url}/{key}", headers=alpha.headers)
        assert r.status_code == 200 and r.json()["id"] == added["id"]
    r = await client.delete(f"{url}/api.example.com", headers=alpha.headers)
    assert r.status_code == 200 and r.json() == {"id": added["id"], "deleted": True}
    assert (await client.get(f"{url}/{added['id']}", headers=alpha.headers)).status_code == 404
    assert (await client.delete(f"{url}/{added['id']}", headers=alpha.headers)).status_code == 404
    assert (await client.get(url, headers=alpha.headers)).json() == []


async def test_a_hostname_is_one_apps_in_the_whole_platform(
    client: httpx.AsyncClient, alpha: h.Tenant, beta: h.Tenant, app_a: dict[str, object], repo
) -> None:
    app_b = await h.create_app_via_api(client, beta, repo.url)
    body = {"hostname": "shop.example.com"}
    r = await client.post(domains_of(alpha, app_a), json=body, headers=alpha.headers)
    assert r.status_code == 201
    r = await client.post(domains_of(beta, app_b), json=body, headers=beta.headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "shop.example.com is already in use on this platform"
    assert (await client.get(domains_of(beta, app_b), headers=beta.headers)).json() == []


async def test_another_workspace_sees_nothing(
    client: httpx.AsyncClient, alpha: h.Tenant, beta: h.Tenant, app_a: dict[str, object]
) -> None:
    url = domains_of(alpha, app_a)
    await client.post(url, json={"hostname": "api.example.com"}, headers=alpha.headers)
    theirs = url.replace(alpha.base, beta.base)
    for method, path in (("GET", theirs), ("GET", f"{theirs}/api.example.com")):
        r = await client.request(method, path, headers=beta.headers)
        assert r.status_code == 404, (method, path)
    r = await client.post(theirs, json={"hostname": "x.example.com"}, headers=beta.headers)
    assert r.status_code == 404
    r = await client.delete(f"{theirs}/api.example.com", headers=beta.headers)
    assert r.status_code == 404
    assert len((await client.get(url, headers=alpha.headers)).json()) == 1


async def test_bad_input_is_a_problem_and_changes_nothing(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, object]
) -> None:
    url = domains_of(alpha, app_a)
    bad = [
        ({"hostname": "10.0.0.1"}, "hostname"),
        ({"hostname": "*.example.com"}, "hostname"),
        ({"hostname": "web.alpha.localhost"}, "hostname"),
        ({"hostname": "exa mple.com"}, "hostname"),
        ({"hostname": "ok.example.com", "tag": "no-such-tag"}, "tag"),
        ({"hostname": "ok.example.com", "tag": "Bad_Tag"}, "tag"),
        ({"hostname": 5}, None),
        ({}, None),
        ({"hostname": "ok.example.com", "extra": 1}, None),
    ]
    for body, field in bad:
        r = await client.post(url, json=body, headers=alpha.headers)
        assert r.status_code in (400, 422), (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        if field is not None:
            assert r.json()["errors"][0]["field"] == field, body
    for raw in (b'{"hostname": "\\udcff.example.com"}', b'{"hostname": "a", "tag": "\\ud800"}'):
        r = await client.post(
            url, content=raw, headers={**alpha.headers, "content-type": "application/json"}
        )
        assert r.status_code in (400, 422), (raw, r.text)
    for key in ("%ff", "%ed%b3%bf", "x" * 400, "dom_" + "0" * 26):
        r = await client.get(f"{url}/{key}", headers=alpha.headers)
        assert r.status_code in (404, 422), key
    assert (await client.get(url, headers=alpha.headers)).json() == []
    r = await client.post(url, json={"hostname": "ok.example.com"})
    assert r.status_code == 401


async def test_https_only_is_an_app_setting(
    client: httpx.AsyncClient, alpha: h.Tenant, app_a: dict[str, object]
) -> None:
    assert app_a["httpsOnly"] is True
    r = await client.patch(
        f"{alpha.base}/apps/{app_a['id']}", json={"httpsOnly": False}, headers=alpha.headers
    )
    assert r.status_code == 200 and r.json()["httpsOnly"] is False
    r = await client.patch(
        f"{alpha.base}/apps/{app_a['id']}", json={"httpsOnly": "no"}, headers=alpha.headers
    )
    assert r.status_code == 422
