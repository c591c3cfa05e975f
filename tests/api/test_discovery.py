"""Version discovery and the headers every answer carries."""

from __future__ import annotations

import httpx


def test_root_lists_v3_with_300(anonymous: httpx.Client) -> None:
    """GET / answers 300 Multiple Choices listing v3 as stable, as Keystone does."""
    response = anonymous.get("/")
    assert response.status_code == 300
    (version,) = response.json()["versions"]["values"]
    assert version["id"].startswith("v3.")
    assert version["status"] == "stable"
    assert version["links"][0]["href"] == f"{anonymous.base_url}/v3/".replace("//v3", "/v3")


def test_v3_document(anonymous: httpx.Client) -> None:
    """GET /v3 and /v3/ answer 200 with the v3 version document and its media type."""
    for path in ("/v3", "/v3/"):
        response = anonymous.get(path)
        assert response.status_code == 200
        version = response.json()["version"]
        assert version["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"


def test_every_answer_has_a_request_id(anonymous: httpx.Client) -> None:
    """Successes, client errors and unknown routes all carry X-OpenStack-Request-ID."""
    for method, path in (("GET", "/v3"), ("GET", "/v3/projects"), ("GET", "/v3/nothing"),
                         ("PUT", "/v3/projects")):
        response = anonymous.request(method, path)
        request_id = response.headers.get("X-OpenStack-Request-ID", "")
        assert request_id.startswith("req-") and len(request_id) == 40, (path, response.headers)


def test_unknown_route_and_method_use_keystone_error_body(anonymous: httpx.Client) -> None:
    """An unknown path is a 404 and an unsupported method a 405, both in the error body."""
    missing = anonymous.get("/v3/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404
    wrong = anonymous.put("/v3/projects")
    assert wrong.status_code == 405
    assert set(wrong.json()["error"]) == {"code", "title", "message"}
