"""Token validation for services that sevres protects: online with a cache, or offline.

Online (``mode="online"``), the algorithm keystonemiddleware follows:

1. Look the token up in a cache keyed by the SHA-256 of the token (the token itself is
   never kept as a key, never logged). A valid answer is kept for ``cache_seconds`` or
   until the token expires, whichever comes first; an invalid one for
   ``negative_cache_seconds``. This is the trade-off to know: a token revoked on the
   identity service is still accepted here until its cached answer ages out.
2. Otherwise ask the identity service: ``GET {auth_url}/v3/auth/tokens?nocatalog`` with the
   validator's own token in ``X-Auth-Token`` and the caller's in ``X-Subject-Token``.
   200 is valid, 404 is invalid. The validator's own token comes from a password login
   with ``Credentials`` (a user holding the ``service`` role, which Keystone's default
   policy lets validate tokens), renewed before it expires; or from a
   ``service_token_provider`` the application supplies. A 401 on the validator's own
   token triggers one fresh login and one retry.
3. Anything else — no answer, a 5xx, a 403, a refused login — is ``IdentityUnavailable``:
   the middleware answers 503, never "valid" and never "invalid".

Offline (``mode="offline"``), for JWS tokens only: check the ES256 signature against the
key set published at ``{auth_url}/v3/sevres/jwks``, check the claims' format, check
``exp``. The key set is fetched on first use, refreshed every ``jwks_refresh_seconds``,
and refetched at once when a token names an unknown ``kid`` (a rotation) — at most once
every ``jwks_min_refetch_seconds``, so forged kids cannot make the validator hammer the
identity service. Any ``alg`` but ES256 is refused. Offline validation sees no revocation
and gives ids only: JWS claims carry no names and no roles (sevres computes roles at each
validation). With ``offline_roles_from_server=True`` the first sight of each token is also
validated online and that answer (names and roles) is kept until the token expires or
leaves the cache; revocations and role changes after that first sight are not seen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Literal

from sevres.middleware.context import RequestContext, TokenInfo, TokenKind
from sevres.tokens import jws
from sevres.tokens.payload import MalformedToken

Mode = Literal["online", "offline"]

MAX_TOKEN_CHARS = 8192
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: anything else is not a token
_RENEW_MARGIN_S = 60.0


class InvalidToken(Exception):
    """The token is not valid: unknown, revoked, expired, malformed or forged (401)."""


class IdentityUnavailable(Exception):
    """The identity service could not give an answer: the middleware answers 503."""


@dataclass(frozen=True)
class Credentials:
    """The password login the validator uses to obtain its own token."""

    username: str
    password: str = field(repr=False)
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"

    def auth_body(self) -> dict[str, Any]:
        return {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.username, "domain": {"name": self.user_domain_name},
                "password": self.password}}},
            "scope": {"project": {"name": self.project_name,
                                  "domain": {"name": self.project_domain_name}}},
        }}


class _Cache:
    """A thread-safe LRU of validation answers with a deadline each (monotonic time).
    A value of None is a cached "invalid"."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, tuple[float, TokenInfo | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> tuple[bool, TokenInfo | None]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if time.monotonic() >= entry[0]:
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, entry[1]

    def put(self, key: bytes, value: TokenInfo | None, seconds: float) -> None:
        if seconds <= 0 or self._size <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _kind(token: str) -> TokenKind:
    return "jws" if jws.looks_like_jws(token) else "fernet"


def _header_kid(token: str) -> str | None:
    """The ``kid`` of a compact JWS header (None if absent); InvalidToken if unreadable."""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidToken("unreadable JWS header") from None
    if not isinstance(header, dict) or header.get("alg") != jws.ALGORITHM:
        raise InvalidToken("JWS header is not ES256")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidToken("JWS kid is not a string")
    return kid


class TokenValidator:
    """Validates tokens for a service; safe to share between threads and event loops.

    ``auth_url`` is the identity service's public URL, with or without ``/v3``. Online
    mode needs ``credentials`` or ``service_token_provider`` (a callable returning a
    current token, called before each online validation: cache and renew it yourself,
    as keystoneauth's ``session.get_token()`` does). Offline mode needs them only with
    ``offline_roles_from_server``.
    """

    def __init__(
        self,
        auth_url: str,
        *,
        credentials: Credentials | None = None,
        service_token_provider: Callable[[], str] | None = None,
        mode: Mode = "online",
        cache_seconds: float = 60.0,
        cache_size: int = 10_000,
        negative_cache_seconds: float = 5.0,
        jwks_refresh_seconds: float = 300.0,
        jwks_min_refetch_seconds: float = 5.0,
        offline_roles_from_server: bool = False,
        timeout: float = 10.0,
    ) -> None:
        if not auth_url.startswith(("http://", "https://")):
            raise ValueError(f"auth_url must be an http(s) URL, not {auth_url!r}")
        if mode not in ("online", "offline"):
            raise ValueError(f"mode must be 'online' or 'offline', not {mode!r}")
        needs_login = mode == "online" or offline_roles_from_server
        if needs_login and credentials is None and service_token_provider is None:
            raise ValueError("online validation needs credentials or a service_token_provider")
        self.auth_url = auth_url.rstrip("/")
        self.mode = mode
        self._base = self.auth_url.removesuffix("/v3")
        self._credentials = credentials
        self._provider = service_token_provider
        self._cache_seconds = cache_seconds
        self._negative_seconds = negative_cache_seconds
        self._roles_online = offline_roles_from_server
        self._timeout = timeout
        self._cache = _Cache(cache_size)
        self._opener = urllib.request.build_opener()
        self._login_lock = threading.Lock()
        self._own: str | None = None
        self._own_renew_at = 0.0
        self._keys = _KeySet(self._fetch_key_set, jwks_refresh_seconds, jwks_min_refetch_seconds)

    def authenticate(self, user_token: str | None,
                     service_token: str | None = None) -> RequestContext:
        """The context of a request's ``X-Auth-Token`` and ``X-Service-Token`` (blocking).
        InvalidToken when the first is missing or invalid, or the second present and
        invalid; IdentityUnavailable when no answer can be had."""
        if not user_token:
            raise InvalidToken("no token")
        user = self.validate(user_token)
        service = self.validate(service_token) if service_token else None
        return RequestContext.of(user, service)

    def authenticate_cached(self, user_token: str | None,
                            service_token: str | None = None) -> RequestContext | None:
        """``authenticate`` from the cache alone, without I/O: None when an answer is not
        cached (then call ``authenticate`` in a thread)."""
        if not user_token:
            raise InvalidToken("no token")
        user = self.cached(user_token)
        service = self.cached(service_token) if service_token else None
        if user is None or (service_token and service is None):
            return None
        return RequestContext.of(user, service)

    def cached(self, token: str) -> TokenInfo | None:
        """The cached answer, without any I/O: the token's info, None when not cached;
        InvalidToken when it is cached as invalid (or cannot be a token at all)."""
        if len(token) > MAX_TOKEN_CHARS or not _TOKEN_SHAPE.fullmatch(token):
            raise InvalidToken("not a token")
        found, info = self._cache.get(_key(token))
        if found and info is None:
            raise InvalidToken("cached as invalid")
        return info

    def validate(self, token: str) -> TokenInfo:
        """The token's info, else InvalidToken; IdentityUnavailable when no answer can be
        had. Blocking (network I/O on a cache miss): call it in a thread from async code."""
        info = self.cached(token)
        if info is not None:
            return info
        key = _key(token)
        try:
            info = self._offline(token) if self.mode == "offline" else self._online(token)
        except InvalidToken:
            self._cache.put(key, None, self._negative_seconds)
            raise
        remaining = info.expires_at.timestamp() - time.time()
        lifetime = remaining if self.mode == "offline" and self._roles_online else min(
            self._cache_seconds, remaining)
        self._cache.put(key, info, lifetime)
        return info

    # Offline

    def _offline(self, token: str) -> TokenInfo:
        if not jws.looks_like_jws(token):
            raise InvalidToken("offline validation reads only JWS tokens")
        codec = self._keys.codec(_header_kid(token))
        try:
            payload = codec.decode(token)
        except MalformedToken as error:
            raise InvalidToken(str(error)) from None
        if payload.expires_ms <= time.time() * 1000:
            raise InvalidToken("expired")
        if self._roles_online:
            return self._online(token)
        return TokenInfo.from_payload(payload)

    def _fetch_key_set(self) -> Mapping[str, Any]:
        status, _, body = self._request("GET", "/v3/sevres/jwks", {})
        if status != 200 or not isinstance(body, dict):
            raise IdentityUnavailable(f"the key set answered {status}")
        return body

    # Online

    def _online(self, token: str) -> TokenInfo:
        for attempt in (1, 2):
            own = self._own_token()
            status, _, body = self._request(
                "GET", "/v3/auth/tokens?nocatalog",
                {"X-Auth-Token": own, "X-Subject-Token": token})
            if status == 200:
                try:
                    return TokenInfo.from_body(body["token"], _kind(token))
                except (ValueError, TypeError, KeyError):
                    raise IdentityUnavailable("unexpected validation answer") from None
            if status == 404:
                raise InvalidToken("not valid on the identity service")
            if status == 401 and attempt == 1:
                self._forget(own)
                continue
            raise IdentityUnavailable(f"token validation answered {status}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _own_token(self) -> str:
        if self._provider is not None:
            try:
                return self._provider()
            except Exception as error:  # the provider is the application's code
                raise IdentityUnavailable(f"service_token_provider failed: {error!r}") from None
        with self._login_lock:
            if self._own is not None and time.time() < self._own_renew_at:
                return self._own
            self._own, self._own_renew_at = self._login()
            return self._own

    def _forget(self, own: str) -> None:
        with self._login_lock:
            if self._own == own:
                self._own = None

    def _login(self) -> tuple[str, float]:
        assert self._credentials is not None
        status, headers, body = self._request(
            "POST", "/v3/auth/tokens?nocatalog", {"Content-Type": "application/json"},
            json.dumps(self._credentials.auth_body()).encode())
        token = headers.get("X-Subject-Token")
        if status != 201 or not token:
            raise IdentityUnavailable(f"the service's own login answered {status}")
        try:
            expires_at = TokenInfo.from_body(body["token"], _kind(token)).expires_at
        except (ValueError, TypeError, KeyError):
            raise IdentityUnavailable("unexpected login answer") from None
        remaining = expires_at.timestamp() - time.time()
        return token, time.time() + remaining - min(_RENEW_MARGIN_S, remaining / 2)

    # HTTP

    def _request(self, method: str, path: str, headers: dict[str, str],
                 data: bytes | None = None) -> tuple[int, Message[str, str], Any]:
        """(status, headers, JSON body of a 2xx or None); IdentityUnavailable on no answer."""
        request = urllib.request.Request(  # noqa: S310 -- the scheme is checked in __init__
            self._base + path, data=data, method=method,
            headers={"Accept": "application/json", **headers})
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                raw = response.read()
                status, answer_headers = response.status, response.headers
        except urllib.error.HTTPError as error:  # an answer, not a failure: the caller reads it
            error.close()
            return error.code, error.headers, None
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise IdentityUnavailable(f"{method} {path}: {type(error).__name__}") from None
        try:
            return status, answer_headers, json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            raise IdentityUnavailable(f"{method} {path}: not JSON") from None


class _KeySet:
    """The published verifying keys, fetched lazily and refreshed as the module says."""

    def __init__(self, fetch: Callable[[], Mapping[str, Any]], refresh_seconds: float,
                 min_refetch_seconds: float) -> None:
        self._fetch = fetch
        self._refresh = refresh_seconds
        self._min_refetch = min_refetch_seconds
        self._lock = threading.Lock()
        self._codec: jws.JwsCodec | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = -math.inf
        self._tried_at = -math.inf

    def codec(self, kid: str | None) -> jws.JwsCodec:
        """A codec holding every published key; refetched when stale or when ``kid`` is
        unknown (throttled). A stale set is kept if the identity service is down."""
        with self._lock:
            now = time.monotonic()
            wanted = (now - self._fetched_at >= self._refresh
                      or (kid is not None and kid not in self._kids))
            if wanted and (self._codec is None or now - self._tried_at >= self._min_refetch):
                self._tried_at = now
                try:
                    self._load(self._fetch())
                    self._fetched_at = now
                except IdentityUnavailable:
                    if self._codec is None:
                        raise
            assert self._codec is not None
            return self._codec

    def _load(self, document: Mapping[str, Any]) -> None:
        verifying: dict[str, Mapping[str, str]] = {}
        keys = document.get("keys")
        for key in keys if isinstance(keys, list) else ():
            if not isinstance(key, dict) or key.get("alg", jws.ALGORITHM) != jws.ALGORITHM:
                continue
            kid = key.get("kid")
            if not isinstance(kid, str) or key.get("use", "sig") != "sig":
                continue
            try:
                jws.JwsCodec(None, {kid: key})  # a key that does not load is skipped
            except (ValueError, TypeError):
                continue
            verifying[kid] = key
        if not verifying:
            raise IdentityUnavailable("the published key set holds no ES256 key")
        self._codec = jws.JwsCodec(None, verifying)
        self._kids = frozenset(verifying)
