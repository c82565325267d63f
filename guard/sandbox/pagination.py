"""`per_page`/`page` slicing and the `Link` header GitHub puts on list answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import urlencode

from flask import request

T = TypeVar("T")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        # GitHub ignores a page size or number it cannot read.
        return default


def paginate(
    items: Sequence[T],
    *,
    default_per_page: int = DEFAULT_PER_PAGE,
    max_per_page: int = MAX_PER_PAGE,
) -> tuple[list[T], str | None]:
    """This request's page of items, and the Link header (None when everything fits on one page)."""
    per_page = min(max(_int_arg("per_page", default_per_page), 1), max_per_page)
    page = max(_int_arg("page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    start = (page - 1) * per_page
    chunk = list(items[start : start + per_page])
    relations: list[tuple[str, int]] = []
    if page < last:
        relations += [("next", page + 1), ("last", last)]
    if page > 1:
        relations += [("first", 1), ("prev", min(page - 1, last))]
    if not relations:
        return chunk, None
    return chunk, ", ".join(f'<{_page_url(number)}>; rel="{rel}"' for rel, number in relations)


def _page_url(number: int) -> str:
    arguments = [(key, value) for key, value in request.args.items(multi=True) if key != "page"]
    arguments.append(("page", str(number)))
    # base_url is the caller's own scheme://host:port/path, which PyGithub insists on.
    return f"{request.base_url}?{urlencode(arguments)}"
