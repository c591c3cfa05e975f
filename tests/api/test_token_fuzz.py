"""Fuzzing bad tokens against the live server: truncated, bit-flipped, forged with a wrong
key, from another deployment, JWS-shaped, oversized, empty, non-ASCII, random, expired.

Every bad token must be, as X-Subject-Token, a 404 in Keystone's error body on GET and a
404 on HEAD, and, as X-Auth-Token, the generic 401 — never a 5xx. A Hypothesis property
does the same for random mutations of a valid token. test_token_validation.py holds the
revoked-token and hand-picked garbage cases; this module does not repeat them.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgpack
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests import backends
from tests.factories import Api, password_auth
from tests.server import ADMIN_PASSWORD, Server, start

GENERIC_401 = "The request you have made requires authentication."
UNRECOGNIZED = "Could not recognize Fernet token"
FAILED = "Failed to validate token"
NO_TOKEN = "No token in the request"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PASSWORD = "fuzz-user-Pa55word"
HOUR_MS = 3_600_000


# -- encoding helpers ----------------------------------------------------------------------

def b64(raw: bytes) -> str:
    """Unpadded base64url, as Fernet tokens travel."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flip_bit(token: str, bit: int) -> str:
    """The token with one bit of its decoded bytes inverted, encoded again."""
    raw = bytearray(unb64(token))
    raw[bit // 8] ^= 0x80 >> (bit % 8)
    return b64(bytes(raw))


def replace_char(token: str, position: int, shift: int) -> str:
    """The token with one character replaced by another base64url character."""
    other = B64URL[(B64URL.index(token[position]) + shift) % len(B64URL)]
    return token[:position] + other + token[position + 1:]


def random_b64(length: int, seed: int, prefix: str = "") -> str:
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(B64URL) for _ in range(length - len(prefix)))


def deployment_ring(server: Server) -> MultiFernet:
    """The server's own Fernet keys (primary first), read from the database and unwrapped
    with the master key, for the tests that seal tokens with the deployment's key."""
    from sevres import config
    from sevres.storage.database import Database
    from sevres.tokens import keyring

    settings = config.load(server.env)
    wrapper = keyring.Wrapper(keyring.read_master_key(settings.master_key,
                                                      settings.master_key_file))
    database = Database(settings.database_url)
    try:
        with database.transaction(write=False) as tx:
            ring = keyring.load(tx, wrapper, "fernet")
    finally:
        database.dispose()
    assert ring.fernet is not None
    return ring.fernet


def seal(ring: MultiFernet, fields: object) -> str:
    """A Fernet token of a msgpack payload, unpadded like the server's."""
    return ring.encrypt(msgpack.packb(fields)).decode().rstrip("=")


def random_ring() -> MultiFernet:
    return MultiFernet([Fernet(Fernet.generate_key())])


def project_payload(user_id: str, project_id: str, issued_ms: int | None = None,
                    expires_ms: int | None = None) -> list[Any]:
    """The payload layout of src/sevres/tokens/payload.py: [scope kind, user, method mask,
    scope id, issued ms, expires ms, audit ids], UUID hex ids as their 16 bytes."""
    issued = int(time.time() * 1000) if issued_ms is None else issued_ms
    expires = issued + HOUR_MS if expires_ms is None else expires_ms
    return [1, bytes.fromhex(user_id), 1, bytes.fromhex(project_id), issued, expires,
            [uuid.uuid4().bytes]]


def es256_jws(claims: dict[str, Any]) -> str:
    """A syntactically valid compact JWS (ES256, raw r||s signature) under a random key,
    checked against its own public key so only the key is wrong."""
    key = ec.generate_private_key(ec.SECP256R1())
    header = {"alg": "ES256", "typ": "JWT", "kid": uuid.uuid4().hex}
    signing_input = ".".join(b64(json.dumps(part, separators=(",", ":")).encode())
                             for part in (header, claims))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    # What a JWS verifier does: split the raw signature, check it under the public key.
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    try:
        key.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:  # pragma: no cover - the helper itself would be broken
        pytest.fail("the forged JWS does not verify under its own key")
    return f"{signing_input}.{b64(signature)}"


# -- requests ------------------------------------------------------------------------------

Headers = list[tuple[bytes, bytes]]


def raw_request(url: str, method: str, path: str, headers: Headers) -> httpx.Response | None:
    """One request written byte for byte (httpx refuses some values, such as a header of
    blanks), and the answer; None when the server closes the connection without one."""
    parts = urlsplit(url)
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode(),
             b"Connection: close", *(name + b": " + value for name, value in headers)]
    received = b""
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
            while chunk := sock.recv(65536):
                received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    if not received:
        return None
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = [line.partition(":") for line in header_lines]
    return httpx.Response(int(status_line.split()[1]),
                          headers=[(name.strip(), value.strip()) for name, _, value in fields],
                          content=body)


def ask(client: httpx.Client, method: str, path: str, headers: Headers,
        raw: bool = False) -> httpx.Response:
    if not raw:
        return client.request(method, path, headers=headers)
    answer = raw_request(str(client.base_url), method, path, headers)
    assert answer is not None, f"the server closed the connection on {method} {path}"
    return answer


def as_bytes(token: str | bytes) -> bytes:
    return token if isinstance(token, bytes) else token.encode()


def as_subject(admin: Api, token: str | bytes, method: str = "GET",
               raw: bool = False) -> httpx.Response:
    headers = [(b"X-Auth-Token", admin.token.encode()), (b"X-Subject-Token", as_bytes(token))]
    return ask(admin, method, "/v3/auth/tokens", headers, raw)


def as_auth(client: httpx.Client, token: str | bytes, raw: bool = False) -> httpx.Response:
    return ask(client, "GET", "/v3/projects", [(b"X-Auth-Token", as_bytes(token))], raw)


def shown(token: str | bytes) -> str:
    text = repr(token)
    return text if len(text) <= 120 else f"{text[:100]}...({len(token)} long)"


def assert_rejected(admin: Api, client: httpx.Client, token: str | bytes,
                    message: str = UNRECOGNIZED, raw: bool = False) -> None:
    """As X-Subject-Token: GET is a 404 with Keystone's error body, HEAD a bare 404; as
    X-Auth-Token on GET /v3/projects: the generic 401 with a WWW-Authenticate challenge."""
    got = as_subject(admin, token, "GET", raw)
    assert got.status_code == 404, f"GET {shown(token)}: {got.status_code} {got.text}"
    assert got.json() == {"error": {"code": 404, "title": "Not Found", "message": message}}
    head = as_subject(admin, token, "HEAD", raw)
    assert head.status_code == 404, f"HEAD {shown(token)}: {head.status_code}"
    assert head.content == b""
    auth = as_auth(client, token, raw)
    assert auth.status_code == 401, f"auth {shown(token)}: {auth.status_code} {auth.text}"
    assert auth.json() == {"error": {"code": 401, "title": "Unauthorized",
                                     "message": GENERIC_401}}
    assert auth.headers["WWW-Authenticate"].startswith('Keystone uri="')


# -- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def outsider(server: Server) -> Iterator[httpx.Client]:
    """A client without a token (module-scoped, so Hypothesis may share it)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def victim(admin: Api) -> dict[str, Any]:
    """A member's project-scoped token, its user and project: the token the fuzz mutates."""
    user, project = admin.member_of_new_project(PASSWORD)
    issued = admin.post("/v3/auth/tokens", json=password_auth(
        user["name"], PASSWORD, scope={"project": {"id": project["id"]}}))
    assert issued.status_code == 201, issued.text
    return {"token": issued.headers["X-Subject-Token"], "user": user, "project": project}


@pytest.fixture(scope="module")
def foreign_tokens(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Tokens issued by another sevres deployment (its own keys and database), which is
    stopped once they are issued: a token does not need its issuer to be presented."""
    state = tmp_path_factory.mktemp("other-deployment")
    backend = backends.create("sqlite", state)
    other = start(state, backend.url)
    try:
        tokens = []
        for scope in (None, "unscoped", {"system": {"all": True}}):
            issued = httpx.post(f"{other.url}/v3/auth/tokens", timeout=30,
                                json=password_auth("admin", ADMIN_PASSWORD, scope=scope))
            assert issued.status_code == 201, issued.text
            tokens.append(issued.headers["X-Subject-Token"])
        return tokens
    finally:
        other.stop()
        backend.drop()


def test_victim_is_a_valid_token(admin: Api, outsider: httpx.Client,
                                 victim: dict[str, Any]) -> None:
    """The control: unmutated, the token validates, and on GET /v3/projects it passes
    authentication (a member is then refused by policy: 403, not 401)."""
    assert as_subject(admin, victim["token"]).status_code == 200
    assert as_auth(outsider, victim["token"]).status_code == 403


# -- damaged tokens ------------------------------------------------------------------------

def test_truncated_tokens(admin: Api, outsider: httpx.Client, victim: dict[str, Any]) -> None:
    """The token cut at several lengths, from one character to all but the last."""
    token = victim["token"]
    for length in sorted({1, 4, 10, 16, 40, 64, 100, len(token) // 2, len(token) - 17,
                          len(token) - 5, len(token) - 2, len(token) - 1}):
        assert_rejected(admin, outsider, token[:length])


def test_single_bit_flips(admin: Api, outsider: httpx.Client, victim: dict[str, Any]) -> None:
    """One bit inverted in the decoded bytes, then encoded again: every bit of the version
    byte and timestamp, and every seventh bit of the IV, ciphertext and HMAC."""
    token = victim["token"]
    bits = len(unb64(token)) * 8
    for bit in [*range(72), *range(72, bits, 7), bits - 1]:
        assert_rejected(admin, outsider, flip_bit(token, bit))


def test_single_character_flips(admin: Api, outsider: httpx.Client,
                                victim: dict[str, Any]) -> None:
    """One character replaced by another base64url character (a neighbour, the case-swapped
    letter, or a far one) at every third position. The last character is left to
    test_non_canonical_encodings: part of its bits are unused."""
    token = victim["token"]
    for position in range(0, len(token) - 1, 3):
        assert_rejected(admin, outsider, replace_char(token, position, 1 + position % 63))
    for position in (0, 7, len(token) // 2, len(token) - 2):
        char = token[position]
        if char.isalpha():
            swapped = char.lower() if char.isupper() else char.upper()
            assert_rejected(admin, outsider, token[:position] + swapped + token[position + 1:])
    assert as_subject(admin, token).status_code == 200


# -- well-formed tokens that are not ours ---------------------------------------------------

def admin_payloads(admin: Api) -> list[list[Any]]:
    """The admin's own user and project, system-scoped, unscoped, and with a far expiry."""
    user_id, project_id = admin.body["user"]["id"], admin.body["project"]["id"]
    now = int(time.time() * 1000)
    return [
        project_payload(user_id, project_id),
        [3, bytes.fromhex(user_id), 1, "all", now, now + HOUR_MS, [uuid.uuid4().bytes]],
        [0, bytes.fromhex(user_id), 1, None, now, now + HOUR_MS, [uuid.uuid4().bytes]],
        project_payload(user_id, project_id, expires_ms=now + 365 * 24 * HOUR_MS),
    ]


def test_fernet_tokens_forged_with_a_random_key(admin: Api, outsider: httpx.Client) -> None:
    """Payloads exactly as the server writes them (test_forged_payloads_are_realistic),
    claiming the admin, sealed with a random key."""
    payloads = admin_payloads(admin)
    for payload in payloads:
        for _ in range(3):
            assert_rejected(admin, outsider, seal(random_ring(), payload))
    # A ring of several random keys, as a deployment with staged and secondary keys has.
    ring = MultiFernet([Fernet(Fernet.generate_key()) for _ in range(3)])
    assert_rejected(admin, outsider, seal(ring, payloads[0]))


def test_tokens_from_another_deployment(admin: Api, outsider: httpx.Client,
                                        foreign_tokens: list[str]) -> None:
    """Genuine tokens of another sevres (project, unscoped, system): not ours."""
    for token in foreign_tokens:
        assert_rejected(admin, outsider, token)


def test_jws_tokens_are_the_wrong_provider(admin: Api, outsider: httpx.Client) -> None:
    """A well-formed ES256 JWT with Keystone's JWS claims for the admin, signed by a random
    key, and its unsigned alg=none twin, presented to this Fernet deployment."""
    now = int(time.time())
    claims = {"sub": admin.body["user"]["id"], "iat": now, "exp": now + 3600,
              "openstack_methods": ["password"], "openstack_audit_ids": [b64(uuid.uuid4().bytes)],
              "openstack_project_id": admin.body["project"]["id"]}
    token = es256_jws(claims)
    assert token.count(".") == 2
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    for jws in (token, es256_jws({**claims, "openstack_system": "all"}),
                f"{header}.{token.split('.')[1]}."):
        assert_rejected(admin, outsider, jws)


# -- sizes, alphabets and blanks ------------------------------------------------------------

@pytest.mark.parametrize("size", [2 * 1024, 8 * 1024])
def test_oversized_tokens(admin: Api, outsider: httpx.Client, victim: dict[str, Any],
                          size: int) -> None:
    """Tokens of 2 KB and 8 KB (the server stops at 1 KB): random base64url, the valid
    token repeated, the valid token followed by padding characters."""
    token = victim["token"]
    for big in (random_b64(size, size, "gAAAAAB"), (token * (size // len(token) + 1))[:size],
                token + "A" * (size - len(token))):
        assert_rejected(admin, outsider, big)


def test_sixty_kilobyte_token_is_a_clear_4xx_or_a_closed_connection(
        admin: Api, outsider: httpx.Client, victim: dict[str, Any]) -> None:
    """A 60 KB header may exceed the HTTP server's limit (h11 refuses a header block that
    stays incomplete past 16 KiB, so it depends on how the bytes arrive): Keystone's
    404/401, another 4xx (400/431) or a closed connection are acceptable, a 5xx is not;
    the server serves on."""
    big = random_b64(60 * 1024, 60, "gAAAAAB")
    answers: list[tuple[str, httpx.Response | None]] = []
    for name, send in (("GET", lambda: as_subject(admin, big)),
                       ("HEAD", lambda: as_subject(admin, big, "HEAD")),
                       ("auth", lambda: as_auth(outsider, big))):
        try:
            answers.append((name, send()))
        except httpx.TransportError:
            answers.append((name, None))
    for name, answer in answers:
        if answer is None:
            continue
        assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text}"
        if answer.status_code in (401, 404) and name != "HEAD":
            assert answer.json()["error"]["code"] == answer.status_code
    assert as_subject(admin, victim["token"]).status_code == 200


def test_empty_and_blank_tokens(admin: Api, outsider: httpx.Client) -> None:
    """An empty header, and headers of blanks (which HTTP trims to empty), are 'no token':
    404 'No token in the request' as subject, the generic 401 as X-Auth-Token. Blanks are
    sent on a raw socket, since httpx refuses to send them."""
    assert_rejected(admin, outsider, b"", NO_TOKEN)
    for blank in (b" ", b"   ", b"\t", b" \t \t "):
        assert_rejected(admin, outsider, blank, NO_TOKEN, raw=True)


def test_tokens_with_inner_blanks(admin: Api, outsider: httpx.Client,
                                  victim: dict[str, Any]) -> None:
    """Blanks inside an otherwise plausible token (not the valid one: see
    test_non_canonical_encodings)."""
    token = victim["token"]
    for spaced in ("gAAAAAB hello", token[:90] + " " + token[91:],
                   "\t".join(token[i:i + 40] for i in range(0, 120, 40))):
        assert_rejected(admin, outsider, spaced)


def test_non_ascii_tokens(admin: Api, outsider: httpx.Client, victim: dict[str, Any]) -> None:
    """Bytes above 0x7f, sent raw in the header: Latin-1 and UTF-8 text, lone high bytes,
    and the valid token with a non-ASCII character inserted or appended."""
    token = victim["token"].encode()
    for value in (b"\xff\xfe\xfd", "t\u00f6k\u00e9n".encode(), "\u4ee4\u724c".encode(),
                  b"\x80" * 200, token[:50] + "\u00e9".encode() + token[50:],
                  token + b"\xe9", b"\xc3" + token[1:]):
        assert_rejected(admin, outsider, value)


def test_random_base64_of_a_valid_length(admin: Api, outsider: httpx.Client,
                                         victim: dict[str, Any]) -> None:
    """Random base64url strings as long as the valid token, some with Fernet's version
    prefix so they look like one."""
    length = len(victim["token"])
    for seed in range(8):
        assert_rejected(admin, outsider, random_b64(length, seed, "gAAAAA" if seed % 2 else ""))


# -- the property ---------------------------------------------------------------------------

def mutations(token: str) -> st.SearchStrategy[tuple[str, str]]:
    """(kind, mutated token): a truncation, an insertion of base64url characters, one bit
    flipped in the decoded bytes, or one character replaced (the last one excepted, whose
    unused bits test_non_canonical_encodings covers)."""
    size, bits = len(token), len(unb64(token)) * 8
    return st.one_of(
        st.integers(1, size - 1).map(lambda n: ("truncation", token[:n])),
        st.tuples(st.integers(0, size), st.text(B64URL, min_size=1, max_size=8)).map(
            lambda a: ("insertion", token[:a[0]] + a[1] + token[a[0]:])),
        st.integers(0, bits - 1).map(lambda bit: ("bit flip", flip_bit(token, bit))),
        st.tuples(st.integers(0, size - 2), st.integers(1, 63)).map(
            lambda a: ("character flip", replace_char(token, *a))),
    )


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_valid_token_is_rejected(
        admin: Api, outsider: httpx.Client, victim: dict[str, Any], data: st.DataObject) -> None:
    """Whatever single mutation Hypothesis picks, the result is a 404 as subject and the
    generic 401 as X-Auth-Token."""
    kind, mutated = data.draw(mutations(victim["token"]), label="mutation")
    event(kind)
    assert mutated != victim["token"]
    assert_rejected(admin, outsider, mutated)


# -- encodings the decoder does not check ---------------------------------------------------

def non_canonical_variants(token: str, kind: str) -> list[str]:
    """Other spellings of the very same bytes, which a lenient base64 decoder accepts."""
    if kind == "unused-bits":  # the last character with other values in its unused bits
        unused = (-len(token) * 6) % 8
        last = B64URL.index(token[-1])
        return [token[:-1] + B64URL[last ^ low] for low in range(1, 1 << unused)]
    if kind == "non-alphabet-characters":  # four at a time keep the padding arithmetic
        middle = len(token) // 2
        return [token[:middle] + junk + token[middle:] for junk in ("....", "    ", "!!!!")]
    assert kind == "standard-alphabet"  # + and / in place of - and _
    return [token.replace("-", "+").replace("_", "/")] if {"-", "_"} & set(token) else []


@pytest.mark.parametrize("kind", ["unused-bits", "non-alphabet-characters",
                                  "standard-alphabet"])
def test_non_canonical_encodings(admin: Api, outsider: httpx.Client, victim: dict[str, Any],
                                 kind: str) -> None:
    """Only the canonical spelling of a token is accepted: not the same bytes spelled with
    other unused bits, with characters outside base64url, or in the standard alphabet."""
    token = victim["token"]
    variants = non_canonical_variants(token, kind)
    if not variants:
        pytest.skip(f"this token has no {kind} variant")
    for variant in variants:
        assert variant != token
        assert_rejected(admin, outsider, variant)


# -- sealed with this deployment's own key ------------------------------------------------

def test_forged_payloads_are_realistic(admin: Api, server: Server) -> None:
    """The control for the forgeries: the same payloads sealed with the deployment's own
    key validate, so a forgery with another key differs only by its key."""
    ring = deployment_ring(server)
    for payload in admin_payloads(admin):
        response = as_subject(admin, seal(ring, payload))
        assert response.status_code == 200, response.text
        assert response.json()["token"]["user"]["id"] == admin.body["user"]["id"]


def test_forged_expired_tokens(admin: Api, outsider: httpx.Client, server: Server) -> None:
    """A token that expired a millisecond or a day ago, otherwise valid (sealed with the
    deployment's key for the admin), is 'Failed to validate token' — no waiting needed."""
    ring = deployment_ring(server)
    user_id, project_id = admin.body["user"]["id"], admin.body["project"]["id"]
    now = int(time.time() * 1000)
    for issued, expires in ((now - HOUR_MS, now - 1), (now - 25 * HOUR_MS, now - 24 * HOUR_MS)):
        assert_rejected(admin, outsider,
                        seal(ring, project_payload(user_id, project_id, issued, expires)), FAILED)


def test_token_expires_after_its_lifetime(tmp_path: Path) -> None:
    """End to end on a server with the shortest lifetime (SEVRES_TOKEN_EXPIRATION=60): the
    token validates, and once expires_at has passed it is a 404 'Failed to validate token'
    on GET and HEAD and the generic 401 as X-Auth-Token. Expiry is computed in Python, not
    in the database, so SQLite is enough; the test waits about a minute."""
    backend = backends.create("sqlite", tmp_path)
    short = start(tmp_path, backend.url, SEVRES_TOKEN_EXPIRATION="60")
    try:
        with Api.login(short.url, "admin", ADMIN_PASSWORD) as early:
            expires_at = early.body["expires_at"]
            assert _moment(expires_at) - _moment(early.body["issued_at"]) == 60, early.body
            assert as_subject(early, early.token).status_code == 200
            time.sleep(max(0.0, _moment(expires_at) - time.time()) + 1.5)
            with Api.login(short.url, "admin", ADMIN_PASSWORD) as later, \
                    httpx.Client(base_url=short.url, timeout=30) as client:
                assert_rejected(later, client, early.token, FAILED)
    finally:
        short.stop()
        backend.drop()


def _moment(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _with(fields: list[Any], index: int, value: object) -> list[Any]:
    changed = list(fields)
    changed[index] = value
    return changed


def _sealed_cases() -> list[Any]:
    """(payload builder, expected message), named by id. Payloads a key holder's other software
    could produce — a newer or corrupted sevres, a half-finished upgrade — decrypt fine
    but must still be refused as 404/401, never a 500."""
    return [
        pytest.param(lambda p: [*p, None, None], UNRECOGNIZED, id="more-fields-than-known"),
        pytest.param(lambda p: _with(p, 0, 7), UNRECOGNIZED, id="unknown-scope-kind"),
        pytest.param(lambda p: dict(enumerate(p)), UNRECOGNIZED, id="map-not-array"),
        pytest.param(lambda p: _with(p, 6, [1]), UNRECOGNIZED, id="audit-id-not-bytes"),
        pytest.param(lambda p: _with(p, 1, {"id": 1}), UNRECOGNIZED, id="user-id-a-map"),
        pytest.param(lambda p: _with(p, 5, float("nan")), UNRECOGNIZED, id="expiry-nan"),
        pytest.param(lambda p: _with(p, 1, "a\x00b"), UNRECOGNIZED, id="user-id-with-nul"),
        # The three below answered 500 when written: IndexError on audit_ids[0] in
        # TokenService._validate, OverflowError from int(inf) in payload.decode, and
        # ValueError from from_ms() rendering expires_at (that token even authenticates).
        pytest.param(lambda p: _with(p, 6, []), UNRECOGNIZED, id="no-audit-ids"),
        pytest.param(lambda p: _with(p, 5, float("inf")), UNRECOGNIZED, id="expiry-infinite"),
        pytest.param(lambda p: _with(p, 5, 2**64 - 1), UNRECOGNIZED, id="expiry-after-year-9999"),
    ]


@pytest.mark.parametrize(("build", "message"), _sealed_cases())
def test_malformed_payloads_sealed_with_the_deployment_key(
        admin: Api, outsider: httpx.Client, server: Server, build: Any, message: str) -> None:
    """Decryptable payloads of the wrong shape or range are rejected, never a 500."""
    payload = project_payload(admin.body["user"]["id"], admin.body["project"]["id"])
    assert_rejected(admin, outsider, seal(deployment_ring(server), build(payload)), message)
