"""The JWS token provider: ES256 tokens a service can verify offline with the published
key set, validated, revoked and rotated like Fernet tokens."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.factories import Api
from tests.server import ADMIN_PASSWORD, Server, own_server


@pytest.fixture(scope="module")
def jws_server(backend_name: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Server]:
    with own_server(backend_name, tmp_path_factory, "jws", SEVRES_TOKEN_PROVIDER="jws",
                    SEVRES_CACHE_STALENESS_MS="200") as server:
        yield server


@pytest.fixture(scope="module")
def jws_admin(jws_server: Server) -> Iterator[Api]:
    with Api.login(jws_server.url, "admin", ADMIN_PASSWORD) as api:
        yield api


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_offline(token: str, key_set: dict[str, Any]) -> dict[str, Any]:
    """What a service does with the JWKS alone: pick the key, check the ES256 signature,
    read the claims. Raises InvalidSignature if it does not verify."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "ES256"
    jwk = next(k for k in key_set["keys"] if k["kid"] == header["kid"])
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big"),
        ec.SECP256R1()).public_key()
    raw = _b64(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                     int.from_bytes(raw[32:], "big"))
    public.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(_b64(claims_b64))
    return claims


def test_tokens_are_es256_and_verify_offline(jws_admin: Api, jws_server: Server) -> None:
    token = jws_admin.token
    assert token.count(".") == 2 and token.startswith("eyJ")
    key_set = httpx.get(f"{jws_server.url}/v3/sevres/jwks").json()
    claims = verify_offline(token, key_set)
    assert claims["sub"] == jws_admin.body["user"]["id"]
    assert claims["openstack_project_id"] == jws_admin.body["project"]["id"]
    assert claims["openstack_methods"] == ["password"]
    assert claims["openstack_audit_ids"] == jws_admin.body["audit_ids"]
    assert claims["exp"] > time.time()


def test_the_key_set_is_public_and_holds_no_private_part(jws_server: Server) -> None:
    response = httpx.get(f"{jws_server.url}/v3/sevres/jwks")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert len(keys) >= 2  # the primary, and the staged key before it ever signs
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
        assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")


def test_validation_and_body_as_with_fernet(jws_admin: Api) -> None:
    response = jws_admin.get("/v3/auth/tokens", headers={"X-Subject-Token": jws_admin.token})
    assert response.status_code == 200
    token = response.json()["token"]
    assert token["project"]["id"] == jws_admin.body["project"]["id"]
    assert {"admin", "member", "reader"} <= {r["name"] for r in token["roles"]}
    assert "catalog" in token


def test_a_token_of_the_other_provider_is_not_a_token(jws_admin: Api, admin: Api,
                                                      jws_server: Server) -> None:
    fernet_token = admin.token  # from the suite's Fernet deployment
    assert jws_admin.get("/v3/auth/tokens", headers={"X-Subject-Token": fernet_token}
                         ).status_code == 404
    assert httpx.get(f"{jws_server.url}/v3/projects",
                     headers={"X-Auth-Token": fernet_token}).status_code == 401
    # And a JWS token on the Fernet deployment.
    assert admin.get("/v3/auth/tokens", headers={"X-Subject-Token": jws_admin.token}
                     ).status_code == 404


def test_revoked_jws_tokens_fail(jws_admin: Api, jws_server: Server) -> None:
    with Api.login(jws_server.url, "admin", ADMIN_PASSWORD) as other:
        token = other.token
    assert jws_admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token}
                         ).status_code == 200
    assert jws_admin.delete("/v3/auth/tokens", headers={"X-Subject-Token": token}
                            ).status_code == 204
    assert jws_admin.get("/v3/auth/tokens", headers={"X-Subject-Token": token}
                         ).status_code == 404


def test_rotation_publishes_the_next_key_and_keeps_old_tokens(
        jws_admin: Api, jws_server: Server) -> None:
    before = httpx.get(f"{jws_server.url}/v3/sevres/jwks").json()
    old_kid = json.loads(_b64(jws_admin.token.split(".")[0]))["kid"]
    sevres = str(Path(sys.executable).parent / "sevres")
    rotated = subprocess.run([sevres, "keys", "rotate", "--provider", "jws"],
                             env=jws_server.env, capture_output=True, text=True, timeout=60,
                             check=False)
    assert rotated.returncode == 0, rotated.stderr
    time.sleep(1.0)
    after = httpx.get(f"{jws_server.url}/v3/sevres/jwks").json()
    assert {k["kid"] for k in before["keys"]} < {k["kid"] for k in after["keys"]}
    with Api.login(jws_server.url, "admin", ADMIN_PASSWORD) as fresh:
        new_kid = json.loads(_b64(fresh.token.split(".")[0]))["kid"]
        assert new_kid != old_kid
        assert new_kid in {k["kid"] for k in before["keys"]}  # it was staged, published
        verify_offline(fresh.token, after)
    verify_offline(jws_admin.token, after)
    assert jws_admin.get("/v3/auth/tokens", headers={"X-Subject-Token": jws_admin.token}
                         ).status_code == 200


def test_a_forged_signature_does_not_verify(jws_admin: Api, jws_server: Server) -> None:
    header, claims, signature = jws_admin.token.split(".")
    forged_claims = json.loads(_b64(claims))
    forged_claims["sub"] = "0" * 32
    forged = ".".join([header, base64.urlsafe_b64encode(
        json.dumps(forged_claims, separators=(",", ":")).encode()).rstrip(b"=").decode(),
        signature])
    key_set = httpx.get(f"{jws_server.url}/v3/sevres/jwks").json()
    with pytest.raises(InvalidSignature):
        verify_offline(forged, key_set)
    assert jws_admin.get("/v3/auth/tokens", headers={"X-Subject-Token": forged}
                         ).status_code == 404
