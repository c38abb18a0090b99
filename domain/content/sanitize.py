"""Rich text in: HTML sanitized on the way in with nh3 (the Rust ``ammonia`` sanitizer), so what is
stored is safe to render as is.

An allow list, not a block list: text formatting, headings, lists, links, images, tables, code and
quotes. Everything else goes — ``<script>``/``<style>`` with their content, every event handler
attribute (``onerror=``...), ``style``, ``<svg>``/``<math>``/``<iframe>``/``<object>`` and forms —
and URLs keep only the schemes ``http``, ``https`` and ``mailto`` (so no ``javascript:``, ``data:``
or ``vbscript:``; relative URLs stay). Links get ``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

from typing import Any

import nh3

from domain.errors import ValidationFailed

MAX_BODY = 200_000  # characters, before sanitizing

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "del", "div", "em", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "*": {"lang", "dir"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def clean_html(html: str) -> str:
    """``html`` with everything outside the allow list removed (see the module docstring)."""
    return nh3.clean(html, tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow",
                     strip_comments=True)


def check_body(value: Any, field: str = "body") -> str | None:
    """A body as stored: None stays None, text is sanitized; 422 ``invalid_body`` for anything else
    or text over :data:`MAX_BODY` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed("body is HTML text.", code="invalid_body", field=field)
    if len(value) > MAX_BODY:
        raise ValidationFailed(f"body is at most {MAX_BODY} characters.", code="invalid_body", field=field,
                               meta={"max": MAX_BODY})
    return clean_html(value)
