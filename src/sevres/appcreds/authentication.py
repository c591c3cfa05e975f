"""Authenticating with an application credential, and the roles it still confers.

The ``application_credential`` auth method names a credential by id, or by name with its
user (``{"id": ...}`` or ``{"name", "domain": {...}}``), and gives its secret. The check
runs in this order, and every failure is the same 401 with nothing said about which part
was wrong:

1. find the credential (and, by name, its user); when there is none, the secret is still
   verified against a dummy hash of the same cost, so that timing does not tell whether
   an id or name exists;
2. verify the secret against the stored argon2id hash (constant time in argon2);
3. refuse an expired credential, a user named alongside an id who is not its owner, a
   disabled or vanished owner, and an owner whose domain is disabled.

A malformed block (neither id nor name; a name without a user; a user without an id or
a name and domain) is a 400, as in Keystone: it says nothing about any credential.

``roles_of`` answers what a token for the credential may carry: the credential's roles
that its owner still holds on its project, effective (direct, group, inherited, implied)
at this moment. A role the owner has lost no longer counts, so a credential stops
working once its owner holds none of its roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sevres import errors
from sevres.appcreds.models import AppCred
from sevres.assignment.service import AssignmentService
from sevres.identity.models import User
from sevres.identity.passwords import PasswordHashing
from sevres.ids import utcnow
from sevres.storage.repositories import Store

TARGET = "application credential"


def authenticate(hashing: PasswordHashing, tx: Store, block: Any) -> tuple[User, AppCred]:
    """The owner and the credential the auth method's block names; 401 on any failure."""
    if not isinstance(block, Mapping):
        raise errors.missing_attribute("id or name", TARGET)
    app_cred_id, name, secret = block.get("id"), block.get("name"), block.get("secret")
    claimed: User | None = None
    if app_cred_id:
        cred = tx.appcreds.get(app_cred_id) if isinstance(app_cred_id, str) else None
        if "user" in block:
            claimed = _claimed_user(tx, block["user"])
    elif name:
        if "user" not in block:
            raise errors.missing_attribute("user", "application_credential")
        claimed = _claimed_user(tx, block["user"])
        cred = (tx.appcreds.get_by_name(claimed.id, name)
                if claimed is not None and isinstance(name, str) else None)
    else:
        raise errors.missing_attribute("id or name", TARGET)
    hashed = tx.appcreds.secret_hash(cred.id) if cred is not None else None
    valid = hashing.verify(hashed, secret if isinstance(secret, str) else "")
    if cred is None or not valid or cred.expired(utcnow()):
        raise errors.Unauthorized()
    if "user" in block and (claimed is None or claimed.id != cred.user_id):
        raise errors.Unauthorized()
    user = tx.users.get(cred.user_id)
    if user is None or not user.enabled:
        raise errors.Unauthorized()
    domain = tx.projects.get(user.domain_id)
    if domain is None or not domain.enabled:
        raise errors.Unauthorized()
    return user, cred


def roles_of(assignments: AssignmentService, tx: Store, app_cred: AppCred) -> set[str]:
    """Ids of the credential's roles its owner still holds on its project (empty for a
    credential without a project, or whose project is gone)."""
    if app_cred.project_id is None:
        return set()
    held = assignments.effective_role_ids_on_project(tx, app_cred.user_id,
                                                     app_cred.project_id)
    return set(app_cred.role_ids) & held


def _claimed_user(tx: Store, ref: Any) -> User | None:
    """The user a block names, by id or by name within a domain named by id or name;
    None when there is no such user (the caller answers 401 after hashing)."""
    if not isinstance(ref, Mapping) or not (ref.get("id") or ref.get("name")):
        raise errors.missing_attribute("id or name", "user")
    if ref.get("id"):
        return tx.users.get(ref["id"]) if isinstance(ref["id"], str) else None
    domain = ref.get("domain")
    if not isinstance(domain, Mapping):
        raise errors.missing_attribute("domain", "user")
    domain_id = domain.get("id")
    if not domain_id and domain.get("name") and isinstance(domain["name"], str):
        found = tx.projects.get_by_name(None, domain["name"])
        domain_id = found.id if found is not None and found.is_domain else None
    if not domain_id and not domain.get("name"):
        raise errors.missing_attribute("id or name", "domain")
    if not isinstance(domain_id, str) or not isinstance(ref["name"], str):
        return None
    return tx.users.get_by_name(domain_id, ref["name"])
