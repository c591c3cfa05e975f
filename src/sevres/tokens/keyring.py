"""Token keys in the database, wrapped with the master key each node is given.

A node needs only the database URL and the master key to issue and validate the tokens of
every other node: the keys travel through the database, so a rotation reaches every node
and region by replication, with no files to copy.

Each provider (``fernet``, ``jws``) has a ring of keys in three states, as Keystone's key
repository has: *staged* (already accepted by every node, not yet signing), *primary*
(signs new tokens) and *secondary* (only verifies tokens issued before a rotation). A
rotation promotes the staged key, demotes the primary, stages a new key and drops the
secondary keys that no unexpired token can still need. Because a key is staged for a
whole rotation interval before it signs, every node knows it before any token needs it.

Key material is wrapped with AES-256-GCM under the master key, with the provider and key
id as associated data, so a wrapped key cannot be moved to another row unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sevres.log import emit, events
from sevres.storage.repositories import Store
from sevres.storage.repositories.keys import KeyRow
from sevres.tokens import jws
from sevres.tokens import payload as codec
from sevres.tokens.payload import Payload

PROVIDERS = ("fernet", "jws")
STAGED, PRIMARY, SECONDARY = "staged", "primary", "secondary"
MASTER_KEY_BYTES = 32


class KeyringError(Exception):
    """No master key, a wrong master key, or no keys: the message says which and what to do."""


# -- the master key ----------------------------------------------------------------------

def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode()


def parse_master_key(text: str, source: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != MASTER_KEY_BYTES:
        raise KeyringError(f"the master key in {source} is not {MASTER_KEY_BYTES} bytes in "
                           "URL-safe base64; create one with 'sevres keys master-key'")
    return raw


def read_master_key(value: str | None, path: Path) -> bytes:
    """The master key from the setting (environment) if given, else from its file."""
    if value:
        return parse_master_key(value, "SEVRES_MASTER_KEY")
    try:
        return parse_master_key(path.read_text(), str(path))
    except FileNotFoundError:
        raise KeyringError(f"no master key: {path} does not exist and SEVRES_MASTER_KEY is "
                           "not set; run 'sevres init' on the first node and give the same "
                           "master key to every other node") from None
    except OSError as error:
        raise KeyringError(f"the master key file {path} cannot be read: {error}") from None


def create_master_key_file(path: Path) -> bool:
    """Write a new master key (0600) unless the file exists; True if it wrote one."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(new_master_key() + "\n")
    return True


class Wrapper:
    """AES-256-GCM under the master key; the associated data binds provider and key id."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)

    def wrap(self, provider: str, kid: str, secret: bytes) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret, f"{provider}:{kid}".encode())
        return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unwrap(self, provider: str, kid: str, wrapped: str) -> bytes:
        try:
            version, text = wrapped.split(":", 1)
            raw = base64.urlsafe_b64decode(text.encode())
            if version != "v1":
                raise ValueError(version)
            return self._aead.decrypt(raw[:12], raw[12:], f"{provider}:{kid}".encode())
        except (InvalidTag, ValueError, binascii.Error):
            raise KeyringError(
                f"{provider} key {kid} cannot be unwrapped: this node's master key is not "
                "the one the keys were wrapped with") from None


# -- the ring ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Ring:
    """The keys of the configured provider, ready to encode and decode tokens."""

    provider: str
    fernet: MultiFernet | None
    jws: jws.JwsCodec | None
    public_keys: tuple[dict[str, str], ...]  # every JWS public key, for the JWKS document
    kids: tuple[tuple[str, str], ...]  # (kid, state) of the configured provider's keys

    def encode(self, payload: Payload) -> str:
        if self.jws is not None:
            return self.jws.encode(payload)
        assert self.fernet is not None
        return codec.encode(payload, self.fernet)

    def decode(self, token: str) -> Payload:
        if self.jws is not None:
            return self.jws.decode(token)
        assert self.fernet is not None
        return codec.decode(token, self.fernet)


def _secret(provider: str) -> tuple[str, bytes, str | None]:
    """A new key: (kid, secret material, public part)."""
    if provider == "jws":
        material = jws.generate_key()
        return material.kid, material.private_pem, json.dumps(material.public_jwk)
    return uuid.uuid4().hex, Fernet.generate_key(), None


def _add(tx: Store, wrapper: Wrapper, provider: str, state: str,
         now: datetime.datetime) -> str:
    kid, secret, public = _secret(provider)
    tx.keys.add(provider=provider, state=state, kid=kid,
                wrapped=wrapper.wrap(provider, kid, secret), public=public, now=now)
    return kid


def ensure(tx: Store, wrapper: Wrapper, now: datetime.datetime) -> list[str]:
    """Give each provider a staged and a primary key if it has none; the providers done."""
    present = {row.provider for row in tx.keys.fetch(lock=True)}
    created = []
    for provider in PROVIDERS:
        if provider not in present:
            _add(tx, wrapper, provider, PRIMARY, now)
            _add(tx, wrapper, provider, STAGED, now)
            created.append(provider)
            emit(events.KEYS_CREATED, provider=provider)
    return created


def load(tx: Store, wrapper: Wrapper, provider: str) -> Ring:
    rows = tx.keys.fetch()
    mine = [r for r in rows if r.provider == provider]
    primary = [r for r in mine if r.state == PRIMARY]
    if not primary:
        raise KeyringError(f"no primary {provider} key in the database; run 'sevres init'")
    public = tuple(json.loads(r.public) for r in rows if r.provider == "jws" and r.public)
    kids = tuple((r.kid, r.state) for r in mine)
    if provider == "jws":
        verifying = {r.kid: json.loads(r.public or "{}") for r in mine}
        signing = (primary[-1].kid, wrapper.unwrap("jws", primary[-1].kid, primary[-1].wrapped))
        ring = Ring(provider, None, jws.JwsCodec(signing, verifying), public, kids)
    else:
        # The primary encrypts; every key (secondary, staged) may decrypt.
        ordered = primary[-1:] + [r for r in reversed(mine) if r is not primary[-1]]
        fernets = [Fernet(wrapper.unwrap("fernet", r.kid, r.wrapped)) for r in ordered]
        ring = Ring(provider, MultiFernet(fernets), None, public, kids)
    emit(events.KEYS_LOADED, provider=provider, count=len(mine))
    return ring


@dataclass(frozen=True)
class Rotation:
    provider: str
    primary: str
    staged: str
    dropped: int


def rotate(tx: Store, wrapper: Wrapper, provider: str, now: datetime.datetime,
           retain: datetime.timedelta) -> Rotation:
    """Promote the staged key, demote the primary, stage a new key, and drop secondary
    keys demoted longer than ``retain`` ago (the longest a token they signed can live)."""
    rows = tx.keys.fetch(provider, lock=True)
    staged = [r for r in rows if r.state == STAGED]
    for row in rows:
        if row.state == PRIMARY:
            tx.keys.set_state(row.id, SECONDARY, now)
    if staged:
        tx.keys.set_state(staged[-1].id, PRIMARY, now)
        for extra in staged[:-1]:
            tx.keys.set_state(extra.id, SECONDARY, now)
        primary = staged[-1].kid
    else:
        primary = _add(tx, wrapper, provider, PRIMARY, now)
    new_staged = _add(tx, wrapper, provider, STAGED, now)
    expired = [r.id for r in rows if r.state == SECONDARY and r.demoted_at is not None
               and r.demoted_at < now - retain]
    tx.keys.delete(expired)
    emit(events.KEYS_ROTATED, provider=provider, primary=primary, staged=new_staged,
         dropped=len(expired))
    return Rotation(provider, primary, new_staged, len(expired))


def rotate_if_due(tx: Store, wrapper: Wrapper, now: datetime.datetime,
                  interval: datetime.timedelta, retain: datetime.timedelta) -> list[Rotation]:
    """Rotate each provider whose primary has signed for ``interval``. Every node calls
    this on its schedule; the row locks (or SQLite's single writer) let only one win."""
    done = []
    rows = tx.keys.fetch(lock=True)
    for provider in PROVIDERS:
        primary = [r for r in rows if r.provider == provider and r.state == PRIMARY]
        if not primary:
            continue
        since = primary[-1].promoted_at or primary[-1].created_at
        if since <= now - interval:
            done.append(rotate(tx, wrapper, provider, now, retain))
    return done


def import_keystone(tx: Store, wrapper: Wrapper, directory: Path,
                    now: datetime.datetime) -> int:
    """Take a Keystone Fernet key repository (files named 0..N: 0 staged, N primary, the
    rest secondary) as this deployment's Fernet ring. The keys sevres had are kept as
    secondary so the tokens they signed stay valid; returns the number imported."""
    files = {int(p.name): p for p in directory.iterdir() if p.name.isdigit()} \
        if directory.is_dir() else {}
    if not files:
        raise KeyringError(f"no Keystone Fernet keys (files named 0, 1, ...) in {directory}")
    keys: dict[int, bytes] = {}
    for index, path in files.items():
        material = path.read_bytes().strip()
        try:
            Fernet(material)
        except ValueError:
            raise KeyringError(f"{path} does not hold a Fernet key") from None
        keys[index] = material
    for row in tx.keys.fetch("fernet", lock=True):
        if row.state != SECONDARY:
            tx.keys.set_state(row.id, SECONDARY, now)
    top = max(keys)
    for index in sorted(keys):
        state = STAGED if index == 0 and top != 0 else PRIMARY if index == top else SECONDARY
        kid = f"keystone-{index}-{uuid.uuid4().hex[:8]}"
        tx.keys.add(provider="fernet", state=state, kid=kid,
                    wrapped=wrapper.wrap("fernet", kid, keys[index]), public=None, now=now)
    emit(events.KEYS_IMPORTED, count=len(keys), path=str(directory))
    return len(keys)


def describe(rows: list[KeyRow]) -> list[dict[str, str]]:
    """The ring without key material, for ``sevres keys list`` and the doctor."""
    return [{"provider": r.provider, "state": r.state, "kid": r.kid,
             "created_at": r.created_at.isoformat(),
             "promoted_at": r.promoted_at.isoformat() if r.promoted_at else "",
             "demoted_at": r.demoted_at.isoformat() if r.demoted_at else ""}
            for r in rows]
