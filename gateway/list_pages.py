"""An upstream list page, read without building the items the caller will not see.

A list through the gateway reads every upstream page whole, and most of its items are filtered
out. Parsing them all into dicts was over half of a filtered list's time (issue 6: 10,000
visible among 100,000). msgspec reads a page twice instead, keeping each item's id and its
bytes, which allocates almost nothing; only the items that stay are parsed into dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


class _Item(msgspec.Struct):
    id: Any = None


class _Ids(msgspec.Struct):
    data: list[_Item] | None = None
    has_more: Any = None


class _Raws(msgspec.Struct):
    data: list[msgspec.Raw] | None = None


_IDS = msgspec.json.Decoder(_Ids)
_RAWS = msgspec.json.Decoder(_Raws)
_ITEM = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True)
class Page:
    ids: list[str]
    raws: list[msgspec.Raw]  # each item's JSON, aligned with ids
    has_more: bool

    def item(self, index: int) -> dict[str, Any]:
        return _ITEM.decode(self.raws[index])


def read_page(body: bytes) -> Page:
    """A page as the upstream sent it: `{"data": [{"id": ...}, ...], "has_more": ...}`. Anything
    else (not JSON, items that are not objects) raises msgspec.DecodeError."""
    ids = _IDS.decode(body)
    raws = _RAWS.decode(body)
    items = ids.data or []
    return Page([str(item.id) for item in items], raws.data or [], bool(ids.has_more))
