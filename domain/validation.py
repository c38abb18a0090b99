"""What a msgspec misfit says, read once: the detail, the exact field path and a stable code.

msgspec reports a value that does not fit its type as one message, ``Expected `int`, got `str` -
at `$.data.attributes.groups[0].logic```; a missing or unknown field is named in the message itself
(``Object missing required field `type` - at `$.data```). Both the edge (a request body that does
not fit its route's type, ``server/jsonapi.py``) and the domain (a segment's condition tree,
``domain/crm/segment_conditions.py``) turn such a message into a field path with :func:`misfit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

# " - at `$.a.b[0]`" ending the message; `[...]` is a map's key, which msgspec does not name
_AT_PATH = re.compile(r" - at `\$((?:\.[^`.\[]+|\[\d+\]|\[\.\.\.\])*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD_IN_DETAIL = re.compile(r"(?:missing required field|unknown field) `([^`]+)`")


@dataclass(frozen=True, slots=True)
class Misfit:
    """One msgspec validation error: ``detail`` is the message without its location, ``path`` the
    field at fault from the decoded value's root (names, and list indexes as ints), ``code``
    ``unknown_field``, ``missing_field`` or ``invalid_value``."""

    detail: str
    path: tuple[str | int, ...]
    code: str


def misfit(exc: msgspec.ValidationError) -> Misfit:
    """The detail, path and code of ``exc``. A missing or unknown field is the last step of the
    path, except inside a map, whose keys msgspec does not name: the path stops at the map."""
    message = str(exc)
    m = _AT_PATH.search(message)
    detail = message[: m.start()] if m else message
    steps, in_map, _ = (m.group(1) if m else "").partition("[...]")
    path: list[str | int] = [name or int(index) for name, index in _STEP.findall(steps)]
    field = named_field(detail)
    if field is not None and not in_map:
        path.append(field)
    return Misfit(detail, tuple(path), misfit_code(detail))


def named_field(detail: str) -> str | None:
    """The field a ``missing required field`` or ``unknown field`` message names, if any."""
    m = _FIELD_IN_DETAIL.search(detail)
    return m.group(1) if m else None


def misfit_code(detail: str) -> str:
    """``unknown_field``, ``missing_field`` or ``invalid_value``, from a msgspec message."""
    if "unknown field" in detail:
        return "unknown_field"
    if "missing required field" in detail:
        return "missing_field"
    return "invalid_value"
