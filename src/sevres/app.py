"""Wiring: settings -> database -> services -> routes. Nothing else builds objects.

``create_app`` is what each server worker calls (through ``sevres serve``); it reads the
settings from the environment the CLI prepared, so every worker builds the same app.
"""

from __future__ import annotations

import datetime
import gc
import os
import sys
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from sevres import config, log, metrics
from sevres.api import (
    appcreds,
    auth,
    catalog,
    discovery,
    explain,
    grants,
    groups,
    jwks,
    openapi,
    resources,
    revoke,
    roles,
    users,
)
from sevres.api.middleware import RequestContext, http_exception
from sevres.appcreds.service import ApplicationCredentialService
from sevres.assignment.service import AssignmentService
from sevres.audit import AuditTrail
from sevres.catalog.service import CatalogService
from sevres.config import Settings
from sevres.identity.compliance import Compliance
from sevres.identity.groups import GroupService
from sevres.identity.hashing_gate import HashingGate
from sevres.identity.passwords import PasswordHashing
from sevres.identity.service import IdentityService
from sevres.policy.defaults import DEFAULTS
from sevres.policy.enforcer import Enforcer
from sevres.resource.service import ResourceService
from sevres.storage.database import Database
from sevres.tokens import keyring
from sevres.tokens.service import TokenService
from sevres.tokens.state import Marker, TokenState
from sevres.tokens.upkeep import Upkeep


@dataclass(frozen=True)
class Services:
    settings: Settings
    database: Database
    resources: ResourceService
    identity: IdentityService
    groups: GroupService
    assignments: AssignmentService
    catalog: CatalogService
    tokens: TokenService
    enforcer: Enforcer
    audit: AuditTrail
    appcreds: ApplicationCredentialService
    hashing_gate: HashingGate


def token_state(settings: Settings, database: Database, marker: Marker | None) -> TokenState:
    wrapper = keyring.Wrapper(keyring.read_master_key(settings.master_key,
                                                      settings.master_key_file))
    return TokenState(database, wrapper, settings.token_provider,
                      staleness_s=settings.cache_staleness_ms / 1000,
                      cache_size=settings.token_cache_size, marker=marker,
                      retention=retention(settings))


def retention(settings: Settings) -> datetime.timedelta:
    """How long a demoted key or a revocation event can still matter: a token's lifetime,
    plus the window in which services may validate it expired, plus a minute of margin
    for nodes that had not yet seen a rotation."""
    return datetime.timedelta(seconds=settings.token_expiration
                              + settings.allow_expired_window + 60)


def build_services(settings: Settings, database: Database | None = None,
                   marker: Marker | None = None, gate: HashingGate | None = None) -> Services:
    """``marker`` and ``gate``: the node's, shared by its workers (see create_app);
    without them, the process's own."""
    database = database or Database(settings.database_url,
                                    read_url=settings.database_read_url)
    hashing = PasswordHashing(settings.argon2_time_cost, settings.argon2_memory_kib,
                              settings.argon2_parallelism, settings.workers, gate)
    resources = ResourceService(settings.max_project_tree_depth)
    identity = IdentityService(hashing, resources, Compliance.of(settings))
    assignments = AssignmentService(resources)
    appcreds = ApplicationCredentialService(hashing, assignments)
    tokens = TokenService(token_state(settings, database, marker), identity, assignments,
                          appcreds, settings.token_expiration, settings.allow_expired_window)
    enforcer = Enforcer(DEFAULTS, settings.policy_file)
    audit = AuditTrail(settings.audit_file if settings.audit_enabled else None,
                       rescopes=settings.audit_rescopes)
    return Services(settings, database, resources, identity, GroupService(resources),
                    assignments, CatalogService(), tokens, enforcer, audit, appcreds,
                    hashing.gate)


def build_app(services: Services) -> Starlette:
    routes: list[BaseRoute] = [
        *discovery.routes(services),
        *auth.routes(services),
        *resources.routes(services),
        *users.routes(services),
        *appcreds.routes(services),
        *groups.routes(services),
        *roles.routes(services),
        *grants.routes(services),
        *catalog.routes(services),
        *explain.routes(services),
        *jwks.routes(services),
        *revoke.routes(services),
        *metrics.routes(services),
        *openapi.routes(services),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext)],
        exception_handlers={HTTPException: http_exception},
    )
    app.state.services = services
    return app


def create_app() -> Starlette:
    """The server workers' factory: settings from the environment, logging, services."""
    settings = config.load()
    log.configure(settings.log_format, settings.log_level)
    services = build_services(settings, marker=Marker(settings.state_dir / "revision.shm"),
                              gate=HashingGate(settings.state_dir / "hashing"))
    state = services.tokens.state
    state.refresh()  # keys and revocations in memory before the first request
    upkeep = Upkeep(services.database, state.wrapper, settings, retention(settings))
    state.start_polling(max(0.05, settings.cache_staleness_ms / 1000), also=upkeep)
    app = build_app(services)
    _tune_interpreter()
    log.emit(log.events.WORKER_STARTED, pid=os.getpid(), database=services.database.dialect)
    return app


def _tune_interpreter() -> None:
    """Keep the event loop's answers quick while other threads (the state poll, password
    logins) run Python: hand the GIL over after 1 ms rather than 5, so no thread holds
    the loop up for long; and leave what startup built (modules, routes, policy) out of
    the garbage collector's full passes, which would otherwise walk it again and again."""
    sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()
