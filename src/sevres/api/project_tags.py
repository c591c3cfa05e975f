"""/v3/projects/{project_id}/tags: Keystone's project tags sub-resource.

The list and the replacement answer ``{"tags": [...], "links": {"self": ...}}`` (tags
sorted); checking a tag is 204 or 404; adding one is 201 with no body and a Location
naming the tag (Keystone's Location leaves ``projects/`` out; sevres's leads to it);
removals are 204. The rules on tags themselves are in :mod:`sevres.resource.tags`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Route

from sevres.api import schemas, validation
from sevres.api.http import Call, json_response, no_content, route_table
from sevres.log import emit, events

if TYPE_CHECKING:
    from sevres.app import Services

TAGS_REPLACE: schemas.Schema = {
    "type": "object", "properties": {"tags": schemas.TAGS}, "required": ["tags"],
    "additionalProperties": False,
}


def _tags(call: Call, found: tuple[str, ...]) -> Response:
    path = f"projects/{quote(call.params['project_id'], safe='')}/tags"
    return json_response({"tags": sorted(found), "links": {"self": call.url(path)}})


def list_tags(call: Call) -> Response:
    project = call.services.resources.get_project(call.tx, call.params["project_id"])
    return _tags(call, project.tags)


def replace_tags(call: Call) -> Response:
    validation.check(TAGS_REPLACE, call.body)
    project = call.services.resources.set_tags(
        call.tx, call.params["project_id"], call.body["tags"])
    emit(events.ENTITY_UPDATED, kind="project", entity_id=project.id)
    return _tags(call, project.tags)


def remove_tags(call: Call) -> Response:
    project = call.services.resources.set_tags(call.tx, call.params["project_id"], [])
    emit(events.ENTITY_UPDATED, kind="project", entity_id=project.id)
    return no_content()


def check_tag(call: Call) -> Response:
    call.services.resources.has_tag(call.tx, call.params["project_id"], call.params["tag"])
    return no_content()


def add_tag(call: Call) -> Response:
    project_id = call.params["project_id"]
    tag = call.services.resources.add_tag(call.tx, project_id, call.params["tag"])
    emit(events.ENTITY_UPDATED, kind="project", entity_id=project_id)
    location = call.url(f"projects/{quote(project_id, safe='')}/tags/{quote(tag, safe='')}")
    return Response(status_code=201, headers={"Location": location})


def remove_tag(call: Call) -> Response:
    project_id = call.params["project_id"]
    call.services.resources.remove_tag(call.tx, project_id, call.params["tag"])
    emit(events.ENTITY_UPDATED, kind="project", entity_id=project_id)
    return no_content()


_TAGS = "/v3/projects/{project_id}/tags"


def routes(s: Services) -> list[Route]:
    return route_table(s, [
        ("GET", _TAGS, list_tags, "identity:list_project_tags"),
        ("PUT", _TAGS, replace_tags, "identity:update_project_tags"),
        ("DELETE", _TAGS, remove_tags, "identity:delete_project_tags"),
        ("GET", _TAGS + "/{tag}", check_tag, "identity:get_project_tag"),
        ("PUT", _TAGS + "/{tag}", add_tag, "identity:create_project_tag"),
        ("DELETE", _TAGS + "/{tag}", remove_tag, "identity:delete_project_tag"),
    ])
