"""sevres.resource.tags: what a valid tag is, and what each list filter keeps."""

from __future__ import annotations

import pytest

from sevres import errors
from sevres.resource import tags


def test_a_tag_is_stripped_and_checked() -> None:
    """Blanks around a tag are removed; a blank, over-long, ',' or '/' tag is refused."""
    assert tags.checked(" a b ") == "a b"
    assert tags.checked("x" * 255) == "x" * 255
    for bad in ("", "   ", "x" * 256, "a,b", "a/b"):
        with pytest.raises(errors.ValidationError):
            tags.checked(bad)


def test_a_set_is_sorted_unique_and_at_most_80() -> None:
    """A set comes back sorted; a tag repeated (once stripped) or an 81st is refused."""
    assert tags.checked_set(["b", "B", "a"]) == ("B", "a", "b")
    assert len(tags.checked_set([f"t{i}" for i in range(80)])) == 80
    for bad in (["x", "x"], ["x", " x"], [f"t{i}" for i in range(81)]):
        with pytest.raises(errors.ValidationError):
            tags.checked_set(bad)


@pytest.mark.parametrize(("query", "kept"), [
    ({"tags": "a,b"}, {"ab", "abc"}),
    ({"tags-any": "b,c"}, {"ab", "abc", "c"}),
    ({"not-tags": "a,b"}, {"c", "none"}),
    ({"not-tags-any": "a,b"}, {"c", "none"}),
    ({"tags": "a", "not-tags-any": "c"}, {"ab"}),
    ({"not-tags": "a", "not-tags-any": "c"}, {"none"}),
    ({"tags": "A"}, set()),
    ({"name": "ab"}, {"ab", "abc", "c", "none"}),
])
def test_filters(query: dict[str, str], kept: set[str]) -> None:
    """Each filter alone, and together every one must hold; other parameters are not
    tag filters; tags compare case-sensitively."""
    held = {"ab": ("a", "b"), "abc": ("a", "b", "c"), "c": ("c",), "none": ()}
    wanted = tags.wanted(query)
    assert {name for name, have in held.items() if tags.matches(have, wanted)} == kept
