"""The token payload: only what is needed to rebuild the token, nothing that can change.

A payload is a msgpack array ``[scope_kind, user, methods, scope_id, issued_ms,
expires_ms, audit_ids]``, with an eighth element, the application credential's id, only
when the token was issued for one. Ids that are UUID hex are packed as their 16 bytes (as Keystone
does), others as text; methods are a bit mask; audit ids are 16 random bytes each. Roles
and the catalog are *not* in the token: they are recomputed at validation, so a removed
role or a disabled project takes effect at once. Encrypted with Fernet and stripped of
base64 padding, a project-scoped token is about 200 characters (Keystone: 183).
"""

from __future__ import annotations

import base64
import enum
import secrets
from dataclasses import dataclass

import msgpack
from cryptography.fernet import InvalidToken, MultiFernet

MAX_TOKEN_LENGTH = 1024
METHODS = ("password", "token", "application_credential", "totp", "mapped")


class ScopeKind(enum.IntEnum):
    UNSCOPED = 0
    PROJECT = 1
    DOMAIN = 2
    SYSTEM = 3


class MalformedToken(Exception):
    """Not a token this deployment issued: bad encoding, wrong key, tampered or truncated."""


@dataclass(frozen=True)
class Payload:
    user_id: str
    methods: tuple[str, ...]
    scope: ScopeKind
    scope_id: str | None
    issued_ms: int
    expires_ms: int
    audit_ids: tuple[str, ...]
    app_cred_id: str | None = None  # set when the token came from an application credential


def new_audit_id() -> str:
    return _b64(secrets.token_bytes(16))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pack_id(value: str) -> bytes | str:
    if len(value) == 32:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return value
        if raw.hex() == value:
            return raw
    return value


def _unpack_id(value: object) -> str:
    if isinstance(value, bytes) and len(value) == 16:
        return value.hex()
    if isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable():
        return value
    raise MalformedToken("id of unexpected type or form")


def _int(value: object) -> int:
    if type(value) is not int or not 0 <= value < 2**53:
        raise MalformedToken("number out of range")
    return value


def _canonical(token: str) -> bytes:
    """The token's bytes, padded for decryption, if it is written the one way this
    deployment writes it (URL-safe alphabet, no padding, no stray bits); several strings
    for one token would defeat anything keyed on the token string."""
    padded = (token + "=" * (-len(token) % 4)).encode()
    try:
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except ValueError:
        raise MalformedToken("not URL-safe base64") from None
    if _b64(raw) != token:
        raise MalformedToken("not in canonical form")
    return padded


def _methods_mask(methods: tuple[str, ...]) -> int:
    return sum(1 << METHODS.index(m) for m in set(methods))


def _methods_list(mask: int) -> tuple[str, ...]:
    return tuple(m for i, m in enumerate(METHODS) if mask & (1 << i))


def encode(payload: Payload, ring: MultiFernet) -> str:
    fields: list[object] = [
        int(payload.scope),
        _pack_id(payload.user_id),
        _methods_mask(payload.methods),
        None if payload.scope_id is None else _pack_id(payload.scope_id),
        payload.issued_ms,
        payload.expires_ms,
        [_unb64(a) for a in payload.audit_ids],
    ]
    if payload.app_cred_id is not None:
        fields.append(_pack_id(payload.app_cred_id))
    body = msgpack.packb(fields)
    return ring.encrypt(body).decode().rstrip("=")


def decode(token: str, ring: MultiFernet) -> Payload:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise MalformedToken("token of impossible length or alphabet")
    padded = _canonical(token)
    try:
        body = ring.decrypt(padded)
        fields = msgpack.unpackb(body)
        if not isinstance(fields, list) or len(fields) not in (7, 8):
            raise ValueError("payload of unexpected shape")
        kind, user, mask, scope_id, issued, expires, audits = fields[:7]
        app_cred = fields[7] if len(fields) == 8 else None
        if (not isinstance(audits, list) or not 1 <= len(audits) <= 2
                or not all(isinstance(a, bytes) and len(a) == 16 for a in audits)):
            raise ValueError("audit ids of unexpected form")
        scope = ScopeKind(_int(kind))
        if (scope_id is None) != (scope is ScopeKind.UNSCOPED):
            raise ValueError("scope without id, or id without scope")
        return Payload(
            user_id=_unpack_id(user),
            methods=_methods_list(_int(mask)),
            scope=scope,
            scope_id=None if scope_id is None else _unpack_id(scope_id),
            issued_ms=_int(issued),
            expires_ms=_int(expires),
            audit_ids=tuple(_b64(a) for a in audits),
            app_cred_id=None if app_cred is None else _unpack_id(app_cred),
        )
    except (InvalidToken, ValueError, TypeError, OverflowError,
            msgpack.UnpackException) as error:
        raise MalformedToken(type(error).__name__) from None
