"""Every list answer, and its pages: the OpenStack API working group's ``limit`` and
``marker`` on each collection GET.

Without ``limit`` or ``marker`` a list is answered whole, in the order its route gives,
as Keystone answers it (its clients read every list in one request). With either, the
items (already filtered, as the route filters them) are put in a stable order, by
:data:`Key` (an item's ``id`` unless the route says otherwise), and the page is the
``limit`` items after the one ``marker`` names (the first ``limit`` without a marker).
``limit`` is capped at ``[api] max_limit``, which is also the page size of a ``marker``
without ``limit``. The collection's ``links`` then carry:

* ``next``: the request's own URL, every other parameter kept, with ``limit`` and
  ``marker`` set to the last item of this page; ``null`` on the last page;
* ``previous``: the URL of the page before this one (no ``marker`` for the first page);
  ``null`` on the first page.

A ``limit`` that is not a positive whole number, or a ``marker`` that names no item of
the (filtered) collection, is 400 in Keystone's error body; so a marker deleted between
two pages ends the walk with a 400, and the client starts again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from sevres import errors
from sevres.api.http import Call, json_response

Item = dict[str, Any]
Key = Callable[[Item], str]

LIMIT, MARKER = "limit", "marker"
_DIGITS_READ = 18  # a longer string of digits is more than any max_limit


def by_id(item: Item) -> str:
    return str(item["id"])


@dataclass(frozen=True)
class Page:
    """Which page a request asks for: ``limit`` already capped."""

    limit: int
    marker: str | None


def requested(query: dict[str, str], max_limit: int) -> Page | None:
    """The page asked for, or None for the whole list (no ``limit``, no ``marker``)."""
    if LIMIT not in query and MARKER not in query:
        return None
    limit = max_limit
    if LIMIT in query:
        text = query[LIMIT]
        digits = text.lstrip("0")
        if not (text.isascii() and text.isdigit()) or not digits:
            raise errors.ValidationError(
                f"Invalid input for field '{LIMIT}': {text!r:.64} is not a positive whole "
                "number.")
        if len(digits) <= _DIGITS_READ:  # int() of a longer string would only cost time
            limit = min(int(digits), max_limit)
    return Page(limit, query.get(MARKER))


def collection(call: Call, path: str, key: str, items: Iterable[Item],
               order: Key = by_id, self_query: bool = True) -> Response:
    """The answer to a list request: ``{key: [...], "links": {...}}``, one page of it
    when the request asks for one. ``self_query``: ``links.self`` repeats the request's
    query string (Keystone's lists do, but for the revocation events)."""
    query = call.request.url.query
    self_url = call.url(path) + (f"?{query}" if query and self_query else "")
    links: dict[str, str | None] = {"self": self_url, "previous": None, "next": None}
    page = requested(call.query, call.services.settings.max_limit)
    if page is None:
        return json_response({key: list(items), "links": links})
    ordered = sorted(items, key=order)
    keys = numbered([order(item) for item in ordered])
    start = 0
    if page.marker is not None:
        if page.marker not in keys:
            raise errors.ValidationError(
                f"Invalid input for field '{MARKER}': {page.marker!r:.80} names no item of "
                "this list.")
        start = keys.index(page.marker) + 1
    end = start + page.limit
    if end < len(ordered):
        links["next"] = _page_url(call, path, page.limit, keys[end - 1])
    if page.marker is not None:
        before = start - page.limit
        links["previous"] = _page_url(call, path, page.limit,
                                      keys[before - 1] if before > 0 else None)
    return json_response({key: ordered[start:end], "links": links})


def numbered(keys: list[str]) -> list[str]:
    """Sorted keys, a repeated one numbered (``k``, ``k~1``...), so each marker names
    exactly one item (two equal revocation events are both listed)."""
    seen: dict[str, int] = {}
    found = []
    for k in keys:
        count = seen.get(k, 0)
        seen[k] = count + 1
        found.append(k if count == 0 else f"{k}~{count}")
    return found


def _page_url(call: Call, path: str, limit: int, marker: str | None) -> str:
    """This request's URL with ``limit`` and ``marker`` replaced (every filter kept)."""
    kept = [(k, v) for k, v in call.request.query_params.multi_items()
            if k not in (LIMIT, MARKER)]
    kept.append((LIMIT, str(limit)))
    if marker is not None:
        kept.append((MARKER, marker))
    return f"{call.url(path)}?{urlencode(kept)}"
