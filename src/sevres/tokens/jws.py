"""JWS (ES256) tokens, the format of Keystone's ``jws`` token provider.

A token is a compact JWS (RFC 7515) signed with ECDSA P-256 / SHA-256 (RFC 7518 §3.4:
the signature is the raw 64-byte ``r || s``). Unlike Fernet tokens they are signed, not
encrypted, so any service holding the public keys (published as a JWK set) can check a
token offline. The claims carry the same minimal payload as a Fernet token: ``sub``,
``iat``, ``exp``, ``openstack_methods``, ``openstack_audit_ids``, at most one of
``openstack_project_id`` / ``openstack_domain_id`` / ``openstack_system``, and
``openstack_app_cred_id`` for application credentials. ``iat`` and ``exp`` are
NumericDates with millisecond decimals, because revocation compares issue times in
milliseconds; whole seconds, as Keystone writes them, are read too.

The header names the signing key by ``kid``, its RFC 7638 thumbprint. A token without a
``kid`` (Keystone publishes none) is tried against every verifying key. Decoding accepts
only canonical, unpadded base64url, ``alg`` ES256 and the claims above: anything else is
``MalformedToken``. Expiry is not checked here; that is the token service's job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sevres.tokens.payload import MAX_TOKEN_LENGTH, MalformedToken, Payload, ScopeKind

ALGORITHM = "ES256"
_COORDINATE_BYTES = 32
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "kid", "use", "alg")
_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_SCOPE_CLAIMS = {
    ScopeKind.PROJECT: "openstack_project_id",
    ScopeKind.DOMAIN: "openstack_domain_id",
    ScopeKind.SYSTEM: "openstack_system",
}
_CLAIMS = frozenset(
    {"sub", "iat", "exp", "openstack_methods", "openstack_audit_ids", "openstack_app_cred_id"}
    | set(_SCOPE_CLAIMS.values())
)
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_MS = 2**53
_ABSENT = object()
_ECDSA = ec.ECDSA(hashes.SHA256())
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True)
class JwsKeyMaterial:
    kid: str
    private_pem: bytes
    public_jwk: dict[str, str]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(segment: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("bad base64") from None
    if _b64(raw) != segment:
        raise MalformedToken("non-canonical base64")
    return raw


def _thumbprint(x: str, y: str) -> str:
    canonical = _ENCODER.encode({"crv": "P-256", "kty": "EC", "x": x, "y": y})
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


def _jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    x = _b64(numbers.x.to_bytes(_COORDINATE_BYTES, "big"))
    y = _b64(numbers.y.to_bytes(_COORDINATE_BYTES, "big"))
    kid = _thumbprint(x, y)
    return {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": ALGORITHM}


def _load_private(private_pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 private key")
    return key


def _load_public(jwk: Mapping[str, str]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("not a P-256 JWK")
    x, y = (_coordinate(jwk, member) for member in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def _coordinate(jwk: Mapping[str, str], member: str) -> int:
    try:
        raw = _unb64(jwk[member])
    except (KeyError, TypeError, MalformedToken):
        raise ValueError(f"JWK member {member!r} missing or not base64url") from None
    if len(raw) != _COORDINATE_BYTES:
        raise ValueError(f"JWK member {member!r} is not a P-256 coordinate")
    return int.from_bytes(raw, "big")


def generate_key() -> JwsKeyMaterial:
    """A new P-256 key: its thumbprint, its unencrypted PKCS8 PEM and its public JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_jwk = _jwk(key.public_key())
    return JwsKeyMaterial(kid=public_jwk["kid"], private_pem=pem, public_jwk=public_jwk)


def public_jwk_from_private(private_pem: bytes) -> dict[str, str]:
    """The public JWK (with its thumbprint as ``kid``) of a P-256 private key in PEM."""
    return _jwk(_load_private(private_pem).public_key())


def jwks(keys: Iterable[Mapping[str, str]]) -> dict[str, list[dict[str, str]]]:
    """A JWK set of public keys; members other than the public ones are never published."""
    return {"keys": [{m: key[m] for m in _PUBLIC_MEMBERS if m in key} for key in keys]}


def looks_like_jws(token: str) -> bool:
    """Whether a token has the shape of a compact JWS (cheap: no decoding)."""
    return token.startswith("eyJ") and token.count(".") == 2


def _numeric_date(ms: int) -> int | float:
    if not 0 <= ms < _MAX_MS:
        raise ValueError(f"time {ms} ms out of range")
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _ms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken("time claim is not a number")
    if not 0 <= value < _MAX_MS / 1000:
        raise MalformedToken("time claim out of range")
    return value * 1000 if isinstance(value, int) else round(value * 1000)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedToken("claim is not a non-empty string")
    return value


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise MalformedToken("claim is not a list")
    return tuple(_text(item) for item in value)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise MalformedToken("bad JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken("JSON is not an object")
    return value


def _payload(claims: dict[str, Any]) -> Payload:
    if not claims.keys() <= _CLAIMS:
        raise MalformedToken("unsupported claims")
    scopes = [(kind, name) for kind, name in _SCOPE_CLAIMS.items() if name in claims]
    if len(scopes) > 1:
        raise MalformedToken("more than one scope")
    scope, scope_id = ScopeKind.UNSCOPED, None
    if scopes:
        scope, name = scopes[0]
        scope_id = _text(claims[name])
    try:
        user_id, issued, expires = claims["sub"], claims["iat"], claims["exp"]
        methods, audit_ids = claims["openstack_methods"], claims["openstack_audit_ids"]
    except KeyError:
        raise MalformedToken("missing claim") from None
    app_cred_id = claims.get("openstack_app_cred_id", _ABSENT)
    return Payload(
        user_id=_text(user_id),
        methods=_texts(methods),
        scope=scope,
        scope_id=scope_id,
        issued_ms=_ms(issued),
        expires_ms=_ms(expires),
        audit_ids=_texts(audit_ids),
        app_cred_id=None if app_cred_id is _ABSENT else _text(app_cred_id),
    )


class JwsCodec:
    """Signs tokens with the primary key and verifies them with any published key.

    ``signing`` is the primary's ``(kid, private_pem)``, or None on a node that only
    validates; ``verifying`` maps every kid that may have signed a live token (staged,
    primary, secondary) to its public JWK, and must include the primary.
    """

    def __init__(
        self, signing: tuple[str, bytes] | None, verifying: Mapping[str, Mapping[str, str]]
    ) -> None:
        self._verifying: dict[str, ec.EllipticCurvePublicKey] = {}
        for kid, jwk in verifying.items():
            if jwk.get("kid", kid) != kid:
                raise ValueError(f"JWK published as {kid!r} names itself {jwk['kid']!r}")
            self._verifying[kid] = _load_public(jwk)
        self._all_keys = tuple(self._verifying.values())
        self._signing: ec.EllipticCurvePrivateKey | None = None
        self._header = ""
        if signing is not None:
            kid, private_pem = signing
            self._signing = _load_private(private_pem)
            published = self._verifying.get(kid)
            if published is None or published != self._signing.public_key():
                raise ValueError(f"signing key {kid!r} is not among the verifying keys")
            header = {"alg": ALGORITHM, "typ": "JWT", "kid": kid}
            self._header = _b64(_ENCODER.encode(header).encode("ascii"))

    def encode(self, payload: Payload) -> str:
        """The signed token; ValueError if the payload is inconsistent or too large."""
        if self._signing is None:
            raise RuntimeError("this codec has no signing key")
        claims: dict[str, object] = {
            "sub": payload.user_id,
            "iat": _numeric_date(payload.issued_ms),
            "exp": _numeric_date(payload.expires_ms),
            "openstack_methods": list(payload.methods),
            "openstack_audit_ids": list(payload.audit_ids),
        }
        if payload.scope is ScopeKind.UNSCOPED:
            if payload.scope_id is not None:
                raise ValueError("an unscoped payload has no scope id")
        elif payload.scope_id is None:
            raise ValueError(f"a {payload.scope.name} payload needs a scope id")
        else:
            claims[_SCOPE_CLAIMS[payload.scope]] = payload.scope_id
        if payload.app_cred_id is not None:
            claims["openstack_app_cred_id"] = payload.app_cred_id
        signing_input = f"{self._header}.{_b64(_ENCODER.encode(claims).encode())}"
        r, s = decode_dss_signature(self._signing.sign(signing_input.encode("ascii"), _ECDSA))
        signature = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        token = f"{signing_input}.{_b64(signature)}"
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError(f"token of {len(token)} characters exceeds {MAX_TOKEN_LENGTH}")
        return token

    def decode(self, token: str) -> Payload:
        """The payload of a token signed by a verifying key, else MalformedToken."""
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT.fullmatch(token):
            raise MalformedToken("not a compact JWS of acceptable length")
        header_b64, claims_b64, signature_b64 = token.split(".")
        candidates = self._candidates(_json_object(_unb64(header_b64)))
        signature = _unb64(signature_b64)
        if len(signature) != 2 * _COORDINATE_BYTES:
            raise MalformedToken("signature of wrong length")
        der = encode_dss_signature(
            int.from_bytes(signature[:_COORDINATE_BYTES], "big"),
            int.from_bytes(signature[_COORDINATE_BYTES:], "big"),
        )
        signing_input = token[: len(header_b64) + 1 + len(claims_b64)].encode("ascii")
        if not any(_verifies(key, der, signing_input) for key in candidates):
            raise MalformedToken("signature mismatch")
        return _payload(_json_object(_unb64(claims_b64)))

    def _candidates(self, header: dict[str, Any]) -> tuple[ec.EllipticCurvePublicKey, ...]:
        if header.get("alg") != ALGORITHM:
            raise MalformedToken("unsupported alg")
        if not header.keys() <= _HEADER_MEMBERS:
            raise MalformedToken("unsupported header parameters")
        typ = header.get("typ", "JWT")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise MalformedToken("unsupported typ")
        if "kid" not in header:
            return self._all_keys
        key = self._verifying.get(header["kid"]) if isinstance(header["kid"], str) else None
        if key is None:
            raise MalformedToken("unknown kid")
        return (key,)


def _verifies(key: ec.EllipticCurvePublicKey, der: bytes, signing_input: bytes) -> bool:
    try:
        key.verify(der, signing_input, _ECDSA)
    except InvalidSignature:
        return False
    return True
