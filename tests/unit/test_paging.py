"""Reading the page a list request asks for (sevres.api.paging), without a server: which
limits are refused, how the maximum caps them, and how repeated keys become markers."""

from __future__ import annotations

import pytest

from sevres import errors
from sevres.api import paging


def test_no_limit_and_no_marker_is_the_whole_list() -> None:
    """Without limit or marker there is no page: the list is answered whole."""
    assert paging.requested({"name": "x"}, 100) is None


def test_a_marker_alone_pages_by_the_maximum() -> None:
    """marker without limit: pages of max_limit items after the marker."""
    assert paging.requested({"marker": "abc"}, 100) == paging.Page(100, "abc")


@pytest.mark.parametrize(("limit", "expected"), [
    ("1", 1), ("007", 7), ("100", 100), ("101", 100), ("9" * 50, 100), ("0" * 30 + "5", 5),
])
def test_a_limit_is_capped_at_the_maximum(limit: str, expected: int) -> None:
    """A positive whole number, leading zeros allowed; above max_limit, max_limit (a
    number of any length is no error and costs no big-integer parse)."""
    page = paging.requested({"limit": limit}, 100)
    assert page is not None and page.limit == expected and page.marker is None


@pytest.mark.parametrize("limit", ["0", "000", "-1", "+1", "1.0", "1e3", "", " 1",
                                   "\u0661", "\u00b2"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(limit: str) -> None:
    """Zero, signs, decimals, blanks, and digits outside ASCII: a 400 naming limit."""
    with pytest.raises(errors.ValidationError, match="'limit'"):
        paging.requested({"limit": limit}, 100)


def test_repeated_keys_get_numbered_markers() -> None:
    """Equal keys (two identical revocation events) are told apart by their rank, so
    each marker names one item."""
    assert paging.numbered(["a", "a", "b", "c", "c", "c"]) == [
        "a", "a~1", "b", "c", "c~1", "c~2"]
