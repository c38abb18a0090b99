"""Make the generated OpenAPI document say what the server really sends.

Litestar documents every body as ``application/json`` and every validation failure in its own
``{status_code, detail, extra}`` shape. Hubwire sends JSON:API documents as
``application/vnd.api+json`` and every error as a JSON:API error document, so after generation:
JSON:API documents move to that media type, and each operation lists the error responses it can
give, all with one ``ErrorDocument`` schema.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import RequestEncodingType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)
from litestar.params import BodyKwarg, KwargDefinition

from server.jsonapi import JSONAPI


def existing_or_created(document: type, *, primary: int = 201) -> dict[int, ResponseSpec]:
    """``responses=`` of a route that answers 201 when it creates and 200 when the thing existed
    (or the other way round: ``primary`` is the route's declared status code): the other status is
    declared too, with the same document, so the OpenAPI document lists both."""
    other = 200 if primary == 201 else 201
    what = "Existed already: the existing one" if other == 200 else "Created"
    return {other: ResponseSpec(data_container=document, description=what)}


def component(name: str) -> KwargDefinition:
    """``Annotated[T, component("x")]``: name T's schema ``x`` in the OpenAPI document.

    Litestar names a schema after its class; two classes of the same name are told apart by their
    module paths. The few such pairs keep the names they had before the routes moved to
    ``server/api`` (``auth_RegisterBody``, ``contact_auth_RegisterBody``, ...), so clients built
    from the document see no change: each use of such a type carries its pinned name.
    """
    return KwargDefinition(schema_component_key=name)


def json_body(name: str) -> BodyKwarg:
    """``data: Annotated[T, json_body("x")]``: what ``JSONBody[T]`` says, with T's schema named ``x``
    (see ``component``)."""
    return BodyKwarg(media_type=RequestEncodingType.JSON, schema_component_key=name)


_STR = Schema(type=OpenAPIType.STRING)
ERROR_DOCUMENT = Schema(
    type=OpenAPIType.OBJECT,
    required=["errors"],
    description="Every failure: a JSON:API error document with a stable `code` (docs/api.md).",
    properties={
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(
            type=OpenAPIType.OBJECT,
            required=["status", "code", "title"],
            properties={
                "status": _STR, "code": _STR, "title": _STR, "detail": _STR,
                "source": Schema(type=OpenAPIType.OBJECT, properties={"pointer": _STR, "parameter": _STR}),
                "meta": Schema(type=OpenAPIType.OBJECT, properties={"request_id": _STR}),
            },
        )),
    },
)
_ERROR_REF = Reference(ref="#/components/schemas/ErrorDocument")
_ERRORS = {
    "400": "Malformed request (e.g. `invalid_json`)",
    "401": "Missing, invalid, expired or revoked credentials",
    "403": "Authenticated but not allowed (the code says why)",
    "404": "Not found, or not yours to know about",
    "409": "Conflicts with the current state",
    "415": "The body is not JSON",
    "422": "A field is invalid; `source.pointer` names it",
    "429": "Rate limited; see `Retry-After`",
}
_OPEN = {"/health", "/ready"}


def _is_document(schema: Any) -> bool:
    return isinstance(schema, Reference) and schema.ref.rsplit("/", 1)[-1].endswith("Document")


def _to_jsonapi(content: dict[Any, OpenAPIMediaType] | None) -> dict[Any, OpenAPIMediaType] | None:
    if not content:
        return content
    out: dict[Any, OpenAPIMediaType] = {}
    for media_type, media in content.items():
        key = JSONAPI if str(getattr(media_type, "value", media_type)) == "application/json" and \
            _is_document(media.schema) else media_type
        out[key] = media
    return out


def fix_openapi(schema: OpenAPI) -> OpenAPI:
    """Rewrite ``schema`` in place (see the module docstring) and return it."""
    if schema.components is None:
        schema.components = Components()
    if schema.components.schemas is None:
        schema.components.schemas = {}
    schema.components.schemas["ErrorDocument"] = ERROR_DOCUMENT
    for path, item in (schema.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            op = getattr(item, method, None)
            if op is None:
                continue
            if op.request_body is not None and not isinstance(op.request_body, Reference):
                op.request_body.content = _to_jsonapi(op.request_body.content)  # type: ignore[assignment]
            responses = dict(op.responses or {})
            for code, response in list(responses.items()):
                if isinstance(response, OpenAPIResponse):
                    response.content = _to_jsonapi(response.content)
                if code.startswith("4"):
                    del responses[code]  # Litestar's own validation shape: never sent
            if path not in _OPEN:
                for code, description in _ERRORS.items():
                    responses[code] = OpenAPIResponse(
                        description=description,
                        content={JSONAPI: OpenAPIMediaType(schema=_ERROR_REF)},
                    )
            else:
                op.security = []
            op.responses = responses
    _close_request_objects(schema)
    return schema


def _close_request_objects(schema: OpenAPI) -> None:
    """Every object a request body holds, with its properties listed, refuses other properties
    (``additionalProperties: false``): the inbound structs forbid unknown fields (a 422
    ``unknown_field``), and the document says so. Free-form objects (no properties) stay open."""
    components = schema.components.schemas if schema.components and schema.components.schemas else {}
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Reference):
            node = components.get(node.ref.rsplit("/", 1)[-1])
        if not isinstance(node, Schema) or id(node) in seen:
            return
        seen.add(id(node))
        if node.properties:
            if node.additional_properties is None:
                node.additional_properties = False
            for child in node.properties.values():
                walk(child)
        for group in (node.one_of, node.any_of, node.all_of):
            for child in group or ():
                walk(child)
        if isinstance(node.items, (Schema, Reference)):
            walk(node.items)

    for item in (schema.paths or {}).values():
        for method in ("put", "post", "patch"):
            op = getattr(item, method, None)
            body = getattr(op, "request_body", None)
            if body is None or isinstance(body, Reference):
                continue
            for media in (body.content or {}).values():
                walk(media.schema)
