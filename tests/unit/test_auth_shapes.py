"""The quick check of everyday auth blocks never accepts what the full schema refuses."""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from sevres.api import schemas

text = st.one_of(st.text(max_size=8), st.text(min_size=60, max_size=300),
                 st.integers(), st.none())
ref = st.dictionaries(st.sampled_from(["id", "name", "other"]), text, max_size=3)
scope = st.one_of(
    st.none(), st.just("unscoped"), st.integers(),
    st.dictionaries(st.sampled_from(["project", "domain", "system", "x"]),
                    st.one_of(ref, st.fixed_dictionaries({"id": text, "domain": ref}),
                              st.just({"all": True}), st.just({"all": "yes"}), text),
                    max_size=2))
user = st.dictionaries(st.sampled_from(["id", "name", "password", "domain", "x"]),
                       st.one_of(text, ref), max_size=4)
identity = st.fixed_dictionaries(
    {"methods": st.one_of(st.lists(st.sampled_from(["token", "password"]), max_size=2),
                          text)},
    optional={"token": st.one_of(st.dictionaries(st.sampled_from(["id", "x"]), text,
                                                 max_size=2), text),
              "password": st.one_of(st.fixed_dictionaries({"user": user}), text),
              "totp": ref})
auth = st.fixed_dictionaries({"identity": st.one_of(identity, text)}, optional={"scope": scope})


@settings(max_examples=3000, deadline=None)
@given(auth)
def test_plainly_valid_means_valid(block: dict[str, Any]) -> None:
    if schemas.auth_plainly_valid(block):
        jsonschema.validate(block, schemas.AUTH)


def test_the_everyday_shapes_are_recognised() -> None:
    token = {"identity": {"methods": ["token"], "token": {"id": "t" * 183}},
             "scope": {"project": {"id": "p" * 32}}}
    password = {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}
    for block in (token, password, {**token, "scope": {"system": {"all": True}}},
                  {"identity": token["identity"]}):
        assert schemas.auth_plainly_valid(block)
