"""The ES256 JWS token codec: round trips for every scope, millisecond times, a signature
that a standard verifier written here accepts, RFC 7638 key ids, and MalformedToken (never
anything else) for every token that was not signed, unaltered, by a verifying key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sevres.tokens import payload as fernet
from sevres.tokens.jws import (
    JwsCodec,
    JwsKeyMaterial,
    generate_key,
    jwks,
    looks_like_jws,
    public_jwk_from_private,
)
from sevres.tokens.payload import MAX_TOKEN_LENGTH, MalformedToken, Payload, ScopeKind

PRIMARY = generate_key()
SECONDARY = generate_key()
STRANGER = generate_key()
CODEC = JwsCodec(
    (PRIMARY.kid, PRIMARY.private_pem),
    {PRIMARY.kid: PRIMARY.public_jwk, SECONDARY.kid: SECONDARY.public_jwk},
)
ISSUED_MS = 1_732_540_000_123
PROJECT_TOKEN = Payload(
    user_id="6f1c2a9b7e3d4c5f8a0b1c2d3e4f5a6b",
    methods=("password",),
    scope=ScopeKind.PROJECT,
    scope_id="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    issued_ms=ISSUED_MS,
    expires_ms=ISSUED_MS + 3_600_000,
    audit_ids=(fernet.new_audit_id(),),
)

# RFC 7517 appendix A.2: the example P-256 private key, and its public coordinates.
RFC7517_D = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
RFC7517_X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
RFC7517_Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
RFC7517_THUMBPRINT = "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s"


# -- an independent JWS implementation, for forging and checking tokens ------------------


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key(material: JwsKeyMaterial) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(material.private_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def segments(token: str) -> tuple[dict[str, object], dict[str, object], bytes]:
    header, claims, signature = token.split(".")
    return json.loads(b64d(header)), json.loads(b64d(claims)), b64d(signature)


def es256(signing_input: str, material: JwsKeyMaterial) -> str:
    der = private_key(material).sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return b64e(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def segment(value: object) -> str:
    return b64e(json.dumps(value).encode())


def forge(header: object, claims: object, material: JwsKeyMaterial = PRIMARY) -> str:
    """A token signed (correctly) with material's key over any header and claims."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    return f"{signing_input}.{es256(signing_input, material)}"


def standard_verify(token: str, jwk: dict[str, str]) -> bool:
    header, claims, signature = token.split(".")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64d(jwk["x"]), "big"), int.from_bytes(b64d(jwk["y"]), "big"),
        ec.SECP256R1(),
    )
    raw = b64d(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        numbers.public_key().verify(
            der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        return False
    return len(raw) == 64


def thumbprint(jwk: dict[str, str]) -> str:
    crv, kty, x, y = jwk["crv"], jwk["kty"], jwk["x"], jwk["y"]
    canonical = f'{{"crv":"{crv}","kty":"{kty}","x":"{x}","y":"{y}"}}'
    return b64e(hashlib.sha256(canonical.encode()).digest())


def header_for(material: JwsKeyMaterial = PRIMARY) -> dict[str, str]:
    return {"alg": "ES256", "typ": "JWT", "kid": material.kid}


def claims_for(payload: Payload = PROJECT_TOKEN) -> dict[str, object]:
    return segments(CODEC.encode(payload))[1]


# -- round trips -----------------------------------------------------------------------


SCOPES = [
    (ScopeKind.UNSCOPED, None),
    (ScopeKind.PROJECT, "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
    (ScopeKind.DOMAIN, "default"),
    (ScopeKind.SYSTEM, "all"),
]


@pytest.mark.parametrize(("scope", "scope_id"), SCOPES)
@pytest.mark.parametrize("app_cred_id", [None, "3c9d1f0e2b4a46d8a5e7c1b2d3f4e5a6"])
def test_every_scope_round_trips(
    scope: ScopeKind, scope_id: str | None, app_cred_id: str | None
) -> None:
    """decode(encode(p)) == p for each scope kind, with and without an app credential."""
    payload = replace(
        PROJECT_TOKEN, scope=scope, scope_id=scope_id, app_cred_id=app_cred_id,
        methods=("password", "totp"), audit_ids=(fernet.new_audit_id(), fernet.new_audit_id()),
    )
    assert CODEC.decode(CODEC.encode(payload)) == payload


@pytest.mark.parametrize(
    ("scope", "scope_id", "claim"),
    [
        (ScopeKind.PROJECT, "p1", "openstack_project_id"),
        (ScopeKind.DOMAIN, "d1", "openstack_domain_id"),
        (ScopeKind.SYSTEM, "all", "openstack_system"),
    ],
)
def test_claims_follow_keystone(scope: ScopeKind, scope_id: str, claim: str) -> None:
    """The claims are Keystone's: sub, iat, exp, methods, audit ids and one scope claim."""
    payload = replace(PROJECT_TOKEN, scope=scope, scope_id=scope_id, app_cred_id="ac1")
    assert claims_for(payload) == {
        "sub": payload.user_id,
        "iat": 1732540000.123,
        "exp": 1732543600.123,
        "openstack_methods": ["password"],
        "openstack_audit_ids": list(payload.audit_ids),
        claim: scope_id,
        "openstack_app_cred_id": "ac1",
    }


def test_unscoped_token_has_no_scope_claims() -> None:
    claims = claims_for(replace(PROJECT_TOKEN, scope=ScopeKind.UNSCOPED, scope_id=None))
    assert set(claims) == {"sub", "iat", "exp", "openstack_methods", "openstack_audit_ids"}


def test_header_names_the_primary_key_and_json_is_compact() -> None:
    token = CODEC.encode(PROJECT_TOKEN)
    header, claims, _ = token.split(".")
    assert json.loads(b64d(header)) == {"alg": "ES256", "typ": "JWT", "kid": PRIMARY.kid}
    assert b" " not in b64d(header)
    assert b" " not in b64d(claims)
    assert "=" not in token


@pytest.mark.parametrize(
    ("issued_ms", "text"),
    [
        (1_732_540_000_123, "1732540000.123"),
        (1_732_540_000_120, "1732540000.12"),
        (1_732_540_000_001, "1732540000.001"),
        (1_732_540_000_999, "1732540000.999"),
        (1_732_540_000_000, "1732540000"),
    ],
)
def test_times_keep_milliseconds(issued_ms: int, text: str) -> None:
    """iat is a NumericDate with the milliseconds as decimals, and decodes to the same ms."""
    payload = replace(PROJECT_TOKEN, issued_ms=issued_ms, expires_ms=issued_ms + 1)
    token = CODEC.encode(payload)
    assert f'"iat":{text},' in b64d(token.split(".")[1]).decode()
    assert CODEC.decode(token).issued_ms == issued_ms
    assert CODEC.decode(token).expires_ms == issued_ms + 1


@given(
    user_id=st.text(min_size=1, max_size=16)
    | st.text("0123456789abcdef", min_size=64, max_size=64),
    scope_id=st.text(min_size=1, max_size=16),
    scope=st.sampled_from([ScopeKind.PROJECT, ScopeKind.DOMAIN, ScopeKind.SYSTEM]),
    issued_ms=st.integers(min_value=0, max_value=2**43),
    lifetime_ms=st.integers(min_value=0, max_value=2**40),
    app_cred_id=st.none() | st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
)
def test_any_payload_round_trips(
    user_id: str, scope_id: str, scope: ScopeKind, issued_ms: int, lifetime_ms: int,
    app_cred_id: str | None,
) -> None:
    payload = Payload(
        user_id=user_id, methods=("token",), scope=scope, scope_id=scope_id,
        issued_ms=issued_ms, expires_ms=issued_ms + lifetime_ms,
        audit_ids=(fernet.new_audit_id(),), app_cred_id=app_cred_id,
    )
    assert CODEC.decode(CODEC.encode(payload)) == payload


def test_a_token_signed_by_a_secondary_key_verifies() -> None:
    """After a rotation the old primary only verifies; its tokens stay valid."""
    old = JwsCodec((SECONDARY.kid, SECONDARY.private_pem), {SECONDARY.kid: SECONDARY.public_jwk})
    assert CODEC.decode(old.encode(PROJECT_TOKEN)) == PROJECT_TOKEN


def test_a_verify_only_codec_decodes_but_cannot_encode() -> None:
    verifier = JwsCodec(None, {PRIMARY.kid: PRIMARY.public_jwk})
    assert verifier.decode(CODEC.encode(PROJECT_TOKEN)) == PROJECT_TOKEN
    with pytest.raises(RuntimeError):
        verifier.encode(PROJECT_TOKEN)


# -- the signature is standard ES256 ----------------------------------------------------


def test_signature_verifies_with_a_standard_check() -> None:
    """Raw r||s over 'header.claims', checked with the JWK alone, as any JWS library does."""
    token = CODEC.encode(PROJECT_TOKEN)
    assert len(b64d(token.split(".")[2])) == 64
    assert standard_verify(token, PRIMARY.public_jwk)
    assert not standard_verify(token, SECONDARY.public_jwk)


def test_tokens_forged_here_decode() -> None:
    """The codec accepts a token built by the independent implementation in this file."""
    claims = claims_for()
    assert CODEC.decode(forge(header_for(), claims)) == PROJECT_TOKEN


def test_token_without_kid_is_tried_against_every_key() -> None:
    """Keystone's tokens carry no kid, whole-second times, and typ JWT."""
    claims = {**claims_for(), "iat": 1_732_540_000, "exp": 1_732_543_600}
    token = forge({"alg": "ES256", "typ": "JWT"}, claims, SECONDARY)
    decoded = CODEC.decode(token)
    assert (decoded.issued_ms, decoded.expires_ms) == (1_732_540_000_000, 1_732_543_600_000)
    with pytest.raises(MalformedToken):
        CODEC.decode(forge({"alg": "ES256"}, claims, STRANGER))


# -- keys ------------------------------------------------------------------------------


def test_generated_key_is_p256_pkcs8_with_a_thumbprint_kid() -> None:
    key = generate_key()
    assert key.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert isinstance(private_key(key).curve, ec.SECP256R1)
    assert key.public_jwk == {
        "kty": "EC", "crv": "P-256", "x": key.public_jwk["x"], "y": key.public_jwk["y"],
        "kid": key.kid, "use": "sig", "alg": "ES256",
    }
    assert key.kid == thumbprint(key.public_jwk)
    assert public_jwk_from_private(key.private_pem) == key.public_jwk
    assert generate_key().kid != key.kid


def test_rfc7517_example_key_gives_its_coordinates_and_rfc7638_thumbprint() -> None:
    key = ec.derive_private_key(int.from_bytes(b64d(RFC7517_D), "big"), ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = public_jwk_from_private(pem)
    assert (jwk["x"], jwk["y"]) == (RFC7517_X, RFC7517_Y)
    assert thumbprint(jwk) == RFC7517_THUMBPRINT
    assert jwk["kid"] == RFC7517_THUMBPRINT


def test_other_private_keys_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        public_jwk_from_private(p384)


def test_jwks_publishes_public_members_only() -> None:
    leaky = {**SECONDARY.public_jwk, "d": "secret"}
    assert jwks([PRIMARY.public_jwk, leaky]) == {
        "keys": [PRIMARY.public_jwk, SECONDARY.public_jwk]
    }
    assert jwks([]) == {"keys": []}
    assert json.loads(json.dumps(jwks([PRIMARY.public_jwk])))["keys"][0]["kid"] == PRIMARY.kid


def test_codec_refuses_inconsistent_keys() -> None:
    with pytest.raises(ValueError, match="not among the verifying keys"):
        JwsCodec((PRIMARY.kid, PRIMARY.private_pem), {SECONDARY.kid: SECONDARY.public_jwk})
    with pytest.raises(ValueError, match="not among the verifying keys"):
        JwsCodec((PRIMARY.kid, PRIMARY.private_pem), {PRIMARY.kid: {
            **SECONDARY.public_jwk, "kid": PRIMARY.kid}})
    with pytest.raises(ValueError, match="names itself"):
        JwsCodec(None, {"other": PRIMARY.public_jwk})
    off_curve = {**PRIMARY.public_jwk, "y": b64e((1).to_bytes(32, "big"))}
    with pytest.raises(ValueError):
        JwsCodec(None, {PRIMARY.kid: off_curve})
    with pytest.raises(ValueError, match="P-256"):
        JwsCodec(None, {PRIMARY.kid: {**PRIMARY.public_jwk, "crv": "P-384"}})
    with pytest.raises(ValueError, match="'x'"):
        JwsCodec(None, {PRIMARY.kid: {**PRIMARY.public_jwk, "x": "AAAA"}})


def test_encode_refuses_inconsistent_or_oversized_payloads() -> None:
    with pytest.raises(ValueError, match="needs a scope id"):
        CODEC.encode(replace(PROJECT_TOKEN, scope_id=None))
    with pytest.raises(ValueError, match="unscoped"):
        CODEC.encode(replace(PROJECT_TOKEN, scope=ScopeKind.UNSCOPED))
    with pytest.raises(ValueError, match="out of range"):
        CODEC.encode(replace(PROJECT_TOKEN, issued_ms=-1))
    with pytest.raises(ValueError, match="exceeds"):
        CODEC.encode(replace(PROJECT_TOKEN, user_id="u" * MAX_TOKEN_LENGTH))


def test_looks_like_jws() -> None:
    ring = MultiFernet([Fernet(Fernet.generate_key())])
    assert looks_like_jws(CODEC.encode(PROJECT_TOKEN))
    assert not looks_like_jws(fernet.encode(PROJECT_TOKEN, ring))
    assert not looks_like_jws("eyJhbGciOiJFUzI1NiJ9.e30")
    assert not looks_like_jws("abc.def.ghi")


# -- everything else is MalformedToken -----------------------------------------------------


def flip_last_unused_bit(segment: str) -> str:
    """The same bytes for a lenient decoder, but not canonical base64url."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) ^ 1]


NOT_UTF8 = b'{"alg":"\xff"}'


def tampered_tokens() -> dict[str, str]:
    token = CODEC.encode(PROJECT_TOKEN)
    header, claims, signature = token.split(".")
    other_claims = segment({**claims_for(), "sub": "someone-else"})
    raw_signature = bytearray(b64d(signature))
    raw_signature[10] ^= 1
    swapped = b64e(bytes(raw_signature[32:] + raw_signature[:32]))
    assert b64d(flip_last_unused_bit(signature)) == b64d(signature)
    return {
        "payload": f"{header}.{other_claims}.{signature}",
        "header typ": f"{segment({'alg': 'ES256', 'typ': 'jwt'})}.{claims}.{signature}",
        "header kid": f"{segment(header_for(SECONDARY))}.{claims}.{signature}",
        "signature": f"{header}.{claims}.{b64e(bytes(raw_signature))}",
        "signature swapped r, s": f"{header}.{claims}.{swapped}",
        "non-canonical base64": f"{header}.{claims}.{flip_last_unused_bit(signature)}",
        "padded": f"{header}.{claims}.{signature}==",
        "truncated": token[:-1],
        "truncated signature": token[: token.rindex(".") + 40],
        "no signature": f"{header}.{claims}.",
        "extra segment": f"{token}.{signature}",
        "trailing newline": token + "\n",
        "leading space": " " + token,
        "non-ascii": token[:50] + "é" + token[51:],
        "signed by a stranger, its kid": forge(header_for(STRANGER), claims_for(), STRANGER),
        "signed by a stranger, our kid": forge(header_for(), claims_for(), STRANGER),
        "alg none": f"{segment({'alg': 'none', 'typ': 'JWT'})}.{claims}.",
        "alg none with signature": forge({"alg": "none", "kid": PRIMARY.kid}, claims_for()),
        "alg missing": forge({"kid": PRIMARY.kid}, claims_for()),
        "alg ES384": forge({"alg": "ES384", "kid": PRIMARY.kid}, claims_for()),
        "crit header": forge({**header_for(), "crit": ["exp"], "exp": 1}, claims_for()),
        "kid not a string": forge({"alg": "ES256", "kid": [PRIMARY.kid]}, claims_for()),
        "kid null": forge({"alg": "ES256", "kid": None}, claims_for()),
        "header not an object": forge(["ES256"], claims_for()),
        "header not json": f"{b64e(b'alg: ES256')}.{claims}.{signature}",
        "header not utf-8": f"{b64e(NOT_UTF8)}.{claims}.{signature}",
        "oversized": forge(header_for(), {**claims_for(), "sub": "u" * MAX_TOKEN_LENGTH}),
    }


TAMPERED = tampered_tokens()


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_altered_or_foreign_tokens_are_malformed(name: str) -> None:
    with pytest.raises(MalformedToken):
        CODEC.decode(TAMPERED[name])


def public_pem() -> bytes:
    return private_key(PRIMARY).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_hs256_with_the_public_key_as_secret_is_malformed() -> None:
    """The algorithm-confusion attack: an HMAC keyed by what the JWK set publishes."""
    for secret in (
        json.dumps(PRIMARY.public_jwk).encode(),
        public_pem(),
        PRIMARY.public_jwk["x"].encode(),
    ):
        header = segment({"alg": "HS256", "typ": "JWT", "kid": PRIMARY.kid})
        signing_input = f"{header}.{segment(claims_for())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(MalformedToken):
            CODEC.decode(f"{signing_input}.{b64e(mac)}")


GOOD = claims_for()


@pytest.mark.parametrize(
    "claims",
    [
        {k: v for k, v in GOOD.items() if k != "sub"},
        {k: v for k, v in GOOD.items() if k != "iat"},
        {k: v for k, v in GOOD.items() if k != "exp"},
        {k: v for k, v in GOOD.items() if k != "openstack_methods"},
        {k: v for k, v in GOOD.items() if k != "openstack_audit_ids"},
        {**GOOD, "sub": 42},
        {**GOOD, "sub": ""},
        {**GOOD, "iat": "1732540000"},
        {**GOOD, "iat": True},
        {**GOOD, "iat": -1},
        {**GOOD, "exp": float("nan")},
        {**GOOD, "exp": float("inf")},
        {**GOOD, "exp": 1e300},
        {**GOOD, "exp": None},
        {**GOOD, "openstack_methods": "password"},
        {**GOOD, "openstack_methods": [1]},
        {**GOOD, "openstack_audit_ids": [None]},
        {**GOOD, "openstack_audit_ids": {"a": 1}},
        {**GOOD, "openstack_project_id": 7},
        {**GOOD, "openstack_domain_id": "default"},
        {**GOOD, "openstack_system": "all"},
        {**GOOD, "openstack_app_cred_id": None},
        {**GOOD, "openstack_app_cred_id": ["a"]},
        {**GOOD, "openstack_trust_id": "t1"},
        {**GOOD, "openstack_group_ids": ["g1"]},
        [GOOD],
        "claims",
        None,
    ],
    ids=lambda claims: json.dumps(claims)[:60],
)
def test_missing_ill_typed_or_unsupported_claims_are_malformed(claims: object) -> None:
    """Even when correctly signed: the codec returns a Payload only from what it can read."""
    with pytest.raises(MalformedToken):
        CODEC.decode(forge(header_for(), claims))


def test_claims_that_are_not_json_are_malformed() -> None:
    header = segment(header_for())
    for claims in (b"{", b"\xff\xfe", b'{"sub":NaN}', b"[" * 700, b""):
        signing_input = f"{header}.{b64e(claims)}"
        with pytest.raises(MalformedToken):
            CODEC.decode(f"{signing_input}.{es256(signing_input, PRIMARY)}")


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "..", "...", "a.b.c", "eyJ.eyJ.", "eyJ.eyJ.eyJ", "gAAAAABn" + "A" * 120,
     "Bearer x", "e30.e30.e30", "\x00", "é.é.é"],
)
def test_garbage_is_malformed(garbage: str) -> None:
    with pytest.raises(MalformedToken):
        CODEC.decode(garbage)


# -- fuzz ------------------------------------------------------------------------------


FUZZ_TOKEN = CODEC.encode(replace(PROJECT_TOKEN, app_cred_id="ac"))


@settings(max_examples=500)
@given(flips=st.lists(st.tuples(st.integers(0, len(FUZZ_TOKEN) - 1), st.integers(0, 7)),
                      min_size=1, max_size=4))
def test_bit_flips_are_always_malformed(flips: list[tuple[int, int]]) -> None:
    """Any change to the token (canonical base64 leaves no slack) fails as MalformedToken."""
    raw = bytearray(FUZZ_TOKEN.encode())
    for index, bit in flips:
        raw[index] ^= 1 << bit
    mutated = raw.decode("latin-1")
    if mutated == FUZZ_TOKEN:
        assert CODEC.decode(mutated).app_cred_id == "ac"
    else:
        with pytest.raises(MalformedToken):
            CODEC.decode(mutated)


@given(st.integers(0, len(FUZZ_TOKEN) - 1), st.text(max_size=8))
def test_truncations_and_splices_are_always_malformed(length: int, tail: str) -> None:
    mutated = FUZZ_TOKEN[:length] + tail
    if mutated != FUZZ_TOKEN:
        with pytest.raises(MalformedToken):
            CODEC.decode(mutated)


@given(
    st.text(max_size=MAX_TOKEN_LENGTH + 10)
    | st.from_regex(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*", fullmatch=True)
)
def test_random_text_is_always_malformed(text: str) -> None:
    with pytest.raises(MalformedToken):
        CODEC.decode(text)
