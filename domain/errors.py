"""One error hierarchy for every failure a user can cause.

Each error carries a stable machine-readable ``code`` and a ``kind`` that the edge (``server/``)
maps to an HTTP status in one place. The domain never speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Field = str | Sequence[str | int]


class DomainError(Exception):
    """Base class: a refusal the caller can understand and act on.

    ``field`` names the input at fault (see ``ValidationFailed``), ``parameter`` a query parameter,
    ``meta`` anything a client may act on (an ``unlock_at``, the accepted values)."""

    kind = "bad_request"
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        field: Field | None = None,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.field: tuple[str | int, ...] | None = (
            None if field is None else (field,) if isinstance(field, str) else tuple(field))
        self.pointer = pointer
        self.parameter = parameter
        self.meta = meta or {}
        super().__init__(self.detail)


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""

    kind = "not_found"
    code = "not_found"
    title = "Not found"


class Unauthenticated(DomainError):
    kind = "unauthenticated"
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    kind = "forbidden"
    code = "forbidden"
    title = "Forbidden"


class Conflict(DomainError):
    kind = "conflict"
    code = "conflict"
    title = "Conflict"


class ValidationFailed(DomainError):
    """A field is wrong; ``field`` names it as the caller sent it (``"name"``, or a path such as
    ``("conditions", "groups", 0, "logic")``). The edge turns the name into a JSON pointer into the
    request body (under the attributes of a JSON:API document, from the root of a plain JSON one;
    ``server/errors.py``). ``pointer`` is for the edge's own errors, which know the whole
    document; the domain never writes one (tests/foundation/test_architecture.py)."""

    kind = "validation"
    code = "validation_failed"
    title = "Validation failed"


class UnsupportedMediaType(DomainError):
    """A request body in a form the route does not read (JSON where a file upload is expected,
    a file where JSON is)."""

    kind = "unsupported_media_type"
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RangeNotSatisfiable(DomainError):
    """A byte range of a download that cannot be served: several ranges, an empty one, or one
    outside the file (``meta["size"]`` says how large the file is)."""

    kind = "range_not_satisfiable"
    code = "range_not_satisfiable"
    title = "Range not satisfiable"


class RateLimited(DomainError):
    kind = "rate_limited"
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = max(1, int(retry_after))


class PreconditionRequired(DomainError):
    """A write that must name the version it changes (``If-Match``) did not."""

    kind = "precondition_required"
    code = "if_match_required"
    title = "Precondition required"
