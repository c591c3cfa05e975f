"""GET /v3/OS-REVOKE/events: the revocation events, as Keystone's OS-REVOKE API lists
them, for services that check cached tokens against them (``?since=`` for the new ones).

Each event names what it revokes (an audit id, an audit chain, a user, a project, a
domain, or, a sevres addition, an application credential) and ``issued_before``: tokens
issued up to then are revoked. Events are dropped once no token they match can be alive.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sevres import errors
from sevres.api import paging
from sevres.api.http import Call, route_table
from sevres.ids import iso
from sevres.tokens.clock import from_ms

if TYPE_CHECKING:
    from sevres.app import Services

_NAMED = ("audit_id", "audit_chain_id", "user_id", "project_id", "domain_id", "app_cred_id")


def _since(call: Call) -> datetime.datetime | None:
    text = call.query.get("since")
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.ValidationError(
            f"Invalid input for field 'since': {text!r:.64} is not an ISO 8601 time.") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


def list_events(call: Call) -> Response:
    since = _since(call)
    found: list[dict[str, Any]] = []
    for row in sorted(call.tx.revocations.fetch_all(), key=lambda r: r["id"]):
        if since is not None and row["revoked_at"] < since:
            continue
        event: dict[str, Any] = {k: row[k] for k in _NAMED if row.get(k) is not None}
        event["issued_before"] = iso(from_ms(int(row["issued_before_ms"])))
        event["revoked_at"] = iso(row["revoked_at"])
        found.append(event)
    # As Keystone: links.self without the query string.
    return paging.collection(call, "OS-REVOKE/events", "events", found, order=event_key,
                             self_query=False)


def event_key(event: dict[str, Any]) -> str:
    """An event has no id: its marker is a digest of all it says (events never change)."""
    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]


def routes(s: Services) -> list[Route]:
    return route_table(s, [
        ("GET", "/v3/OS-REVOKE/events", list_events, "identity:list_revoke_events"),
    ])
