"""The one JSON:API codec: request and response document types, list pages and links.

Resource types are declared statically, a few small classes per type (see "resource types" below),
so Litestar validates request bodies with them (unknown attributes are rejected), the OpenAPI
schema shows them under their own names, and handlers can name them in annotations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, get_args
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response

from domain.errors import Conflict, DomainError, ValidationFailed
from domain.validation import misfit
from persistence.ids import parse_id
from persistence.pagination import Page, PageRequest

JSONAPI = "application/vnd.api+json"
ACCEPTED_BODY_TYPES = frozenset({JSONAPI, "application/json"})


class Links(msgspec.Struct, omit_defaults=True):
    self: str | None = None
    next: str | None = None


class PageMeta(msgspec.Struct):
    has_more: bool


class ErrorSource(msgspec.Struct, omit_defaults=True):
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None


class ErrorObject(msgspec.Struct, omit_defaults=True):
    status: str
    code: str
    title: str
    detail: str | None = None
    source: ErrorSource | None = None
    meta: dict[str, Any] | None = None


class ErrorDocument(msgspec.Struct):
    errors: list[ErrorObject]


# ---- resource types, declared statically -----------------------------------------------------------
#
# Each JSON:API type is a handful of small classes a reader and a type checker can follow, e.g. for
# ``spaces``::
#
#     class SpacesResource(Resource):              # what a response carries
#         type: Literal["spaces"]
#         attributes: SpaceAttributes
#     class SpacesDocument(Document):
#         data: SpacesResource
#     class SpacesListDocument(ListDocument):
#         data: list[SpacesResource]
#     class SpacesCreateData(CreateData):          # what a POST body carries (unknown fields refused)
#         type: Literal["spaces"]
#         attributes: SpaceCreate
#     class SpacesCreateDocument(Inbound):
#         data: SpacesCreateData
#     class SpacesUpdateData(UpdateData):          # PATCH: the same, with an optional ``id``
#         type: Literal["spaces"]
#         attributes: SpaceUpdate
#     class SpacesUpdateDocument(Inbound):
#         data: SpacesUpdateData
#
# The subclasses narrow the fields of the bases; the class names are the OpenAPI component names.
# Build a resource with ``SpacesResource.of(id, attributes, self_link=...)`` and a list page with
# ``SpacesListDocument.page(request, resources, page)``.


class Resource(msgspec.Struct, omit_defaults=True):
    """One resource object of a response: ``{"type", "id", "attributes", "links"?}``."""

    type: str
    id: str
    attributes: Any
    links: Links | None = None

    type_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        literal = cls.__annotations__.get("type")
        args = get_args(_resolve(cls, literal)) if literal is not None else ()
        if args:
            cls.type_name = args[0]

    @classmethod
    def of(cls, id: Any, attributes: Any, *, self_link: str | None = None) -> Self:
        return cls(type=cls.type_name, id=str(id), attributes=attributes,
                   links=Links(self=self_link) if self_link else None)


class Document(msgspec.Struct):
    """A response holding one resource: ``{"data": {...}}``."""

    data: Any


class ListDocument(msgspec.Struct):
    """A page of resources with the link to the next page."""

    data: list[Any]
    links: Links
    meta: PageMeta

    @classmethod
    def page(cls, request: Request[Any, Any, Any], resources: list[Any], page: Page[Any]) -> Self:
        return cls(data=resources, links=Links(self=str(request.url), next=next_link(request, page)),
                   meta=PageMeta(has_more=page.has_more))


class CreateData(msgspec.Struct, forbid_unknown_fields=True):
    """The ``data`` of a POST body: its ``type`` and ``attributes``, nothing else."""

    type: str
    attributes: Any


class UpdateData(msgspec.Struct, forbid_unknown_fields=True):
    """The ``data`` of a PATCH body; ``id``, when given, must be the resource's (``check_document_id``)."""

    type: str
    attributes: Any
    id: str | None = None


class Inbound(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: ``{"data": CreateData | UpdateData}``. Validation errors on its attributes
    point into ``/data/attributes``."""

    data: Any


def _resolve(cls: type, annotation: Any) -> Any:
    if isinstance(annotation, str):  # ``from __future__ import annotations`` in the declaring module
        import sys

        return eval(annotation, vars(sys.modules[cls.__module__]), {"Literal": Literal})  # noqa: S307
    return annotation


def check_document_id(document_id: str | None, resource_id: uuid.UUID | str | None) -> None:
    """JSON:API: the ``data.id`` of a PATCH body, when given, must be the id of the resource the
    request changes; another id is 409 ``id_mismatch`` at ``/data/id``. Every PATCH handler calls
    this before anything changes, so a mismatch changes nothing.

    ``resource_id`` is the URL's id as written, or the id of the loaded resource when the URL
    names it otherwise (a membership by its contact, a policy by its type); None when there is no
    such resource yet, which no document id can name.
    """
    if document_id is None or _same_id(document_id, resource_id):
        return
    raise Conflict("The id in the document does not match the resource at this URL.", code="id_mismatch",
                   pointer="/data/id")


def present(attributes: msgspec.Struct) -> dict[str, Any]:
    """The attributes a body sent: ``UNSET`` ones left out, ``None`` kept (it clears), so a PATCH
    changes only what it names."""
    return {f: v for f in attributes.__struct_fields__ if (v := getattr(attributes, f)) is not msgspec.UNSET}


def _same_id(document_id: str, resource_id: uuid.UUID | str | None) -> bool:
    if isinstance(resource_id, str):
        resource_id = parse_id(resource_id)
        if resource_id is None:
            return True  # a malformed URL id names nothing: the 404 that follows says so
    return resource_id is not None and parse_id(document_id) == resource_id


def jsonapi(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content, status_code=status_code, media_type=JSONAPI, headers=headers)


def next_link(request: Request[Any, Any, Any], page: Page[Any]) -> str | None:
    if not page.has_more or page.next_cursor is None:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page[after]"]
    params.append(("page[after]", page.next_cursor))
    return f"{request.url.path}?{urlencode(params)}"


@dataclass(frozen=True)
class ListQuery:
    """``page[...]``, ``filter[...]`` and (on lists that sort) ``sort`` of a list request."""

    page: PageRequest
    filters: dict[str, str]
    sort: str | None = None
    after: str | None = None  # the raw page[after], for a list with its own cursors (page.after is None)


def parse_list_query(request: Request[Any, Any, Any], allowed_filters: frozenset[str] | None = frozenset(), *,
                     sort: bool = False, own_cursor: bool = False) -> ListQuery:
    """The one reader of a list request's query; any parameter it does not name is 422
    ``unknown_parameter``.

    - ``page[size]`` (1 to 100, default 20) into ``page.size``; ``page[after]`` decoded as this
      server's id cursor into ``page.after``, or, for a list with its ``own_cursor`` (community
      feeds and spaces), handed on undecoded in ``after`` for the domain to read.
    - ``filter[name]`` for each name in ``allowed_filters``; another name is 422 ``unknown_filter``
      listing the allowed ones. With ``allowed_filters=None`` the list takes no filters at all and
      ``filter[...]`` is an unknown parameter like any other.
    - ``sort`` when ``sort=True``: its value as given (the domain knows the orders).
    """
    params = request.query_params
    known = {"page[size]", "page[after]", "sort"} if sort else {"page[size]", "page[after]"}
    filters: dict[str, str] = {}
    for key, value in params.items():
        if allowed_filters is not None and key.startswith("filter[") and key.endswith("]"):
            name = key[7:-1]
            if name not in allowed_filters:
                allowed = ", ".join(sorted(allowed_filters)) or "none"
                raise ValidationFailed(f"Unknown filter `{name}`; this list takes: {allowed}.",
                                       code="unknown_filter", parameter=key)
            filters[name] = value
        elif key not in known:
            raise _unknown_parameter(key)
    after = params.get("page[after]")
    page = PageRequest.parse(params.get("page[size]"), None if own_cursor else after)
    return ListQuery(page, filters, sort=params.get("sort") if sort else None, after=after if own_cursor else None)


def parse_query(request: Request[Any, Any, Any], allowed: frozenset[str]) -> dict[str, str]:
    """The query of a request that is not a list: the ``allowed`` parameters, any other is 422
    ``unknown_parameter`` (as in ``parse_list_query``)."""
    params = dict(request.query_params.items())
    for key in params:
        if key not in allowed:
            raise _unknown_parameter(key)
    return params


def _unknown_parameter(key: str) -> ValidationFailed:
    return ValidationFailed(f"Unknown query parameter `{key}`.", code="unknown_parameter", parameter=key)


def json_pointer(path: Sequence[str | int], prefix: str = "") -> str:
    """The JSON pointer (RFC 6901) of ``path`` under ``prefix`` (``""`` is the root)."""
    return prefix + "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


def validate_body(body: bytes, body_type: Any) -> None:
    """Decode ``body`` as ``body_type``; a misfit raises ValidationFailed naming the exact field."""
    try:
        msgspec.json.decode(body, type=body_type)
    except msgspec.ValidationError as exc:
        # msgspec validates while it parses, so a misfit found before a syntax error further on
        # (`{"data": {}} trailing`) would be reported as a field error: check the syntax first.
        try:
            msgspec.json.decode(body)
        except msgspec.ValidationError:
            pass  # well-formed but beyond msgspec's range (1e400): the misfit found above stands
        except msgspec.DecodeError:
            raise DomainError("The request body is not valid JSON.", code="invalid_json") from None
        except RecursionError:
            pass  # syntax unknown past the nesting limit; the misfit found above stands
        found = misfit(exc)
        raise ValidationFailed(found.detail, code=found.code, pointer=json_pointer(found.path)) from None
    except msgspec.DecodeError:
        raise DomainError("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # msgspec's nesting limit (~1000 levels) would otherwise be a 500
        raise DomainError("The request body is nested too deeply.", code="invalid_json") from None
    if b"\\u0000" in body:  # cheap pre-check; NUL is unstorable in PostgreSQL text (a 500 there)
        try:
            decoded = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return
        pointer = _nul_pointer(decoded, "")
        if pointer is not None:
            raise ValidationFailed("Text may not contain the NUL character (\\u0000).", code="invalid_value",
                                   pointer=pointer)


def _nul_pointer(value: Any, at: str) -> str | None:
    """The JSON pointer of the first string (or key) holding a NUL character, if any."""
    stack: list[tuple[str, Any]] = [(at, value)]
    while stack:
        here, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return here
            continue
        children: Any = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in reversed(list(children)):
            path = here + "/" + str(key).replace("~", "~0").replace("/", "~1")
            if isinstance(key, str) and "\x00" in key:
                return path
            stack.append((path, child))
    return None
