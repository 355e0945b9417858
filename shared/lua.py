"""Lua the stores' scripts share, each snippet written once.

A script is its body preceded by the ``local function`` snippets it calls (:func:`script`):
listing-index upkeep (the names are :mod:`shared.keys`' ``listing_index``, whose Lua twin
``keys.LISTING_LUA`` is checked against it by a test), the account sets' names, reading a
JSON-encoded record field, and a record's id from its key.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import keys


@dataclass(frozen=True)
class Lua:
    """A snippet of Lua (``local function`` definitions) and the snippets it calls."""

    text: str
    needs: tuple[Lua, ...] = ()


def script(body: str, *uses: Lua) -> str:
    """``body`` preceded by every snippet it ``uses`` and theirs, each once, callees first."""
    ordered: list[Lua] = []

    def add(snippet: Lua) -> None:
        if snippet not in ordered:
            for needed in snippet.needs:
                add(needed)
            ordered.append(snippet)

    for snippet in uses:
        add(snippet)
    return "".join(s.text for s in ordered) + body


LISTING_INDEX = Lua(keys.LISTING_LUA)
ACCOUNT_TASKS = Lua(keys.ACCOUNT_TASKS_LUA)

# relisted(prefix, id, score, owner, old, new): a record's status changed from ``old`` (nil: it
# is new) to ``new``; moves it between the status's and the owner's status's listing indexes.
# unlisted(prefix, id, owner, status): removes it from every listing index under ``prefix``.
# Owners and statuses are raw strings (nil or '': none).
LISTINGS = Lua("""
local function relisted(prefix, id, score, owner, old, new)
  local owned = owner and owner ~= ''
  if old then
    redis.call('ZREM', listing_index(prefix, nil, old), id)
    if owned then redis.call('ZREM', listing_index(prefix, owner, old), id) end
  end
  redis.call('ZADD', listing_index(prefix, nil, new), score, id)
  if owned then redis.call('ZADD', listing_index(prefix, owner, new), score, id) end
end
local function unlisted(prefix, id, owner, status)
  if status then redis.call('ZREM', listing_index(prefix, nil, status), id) end
  if owner and owner ~= '' then
    redis.call('ZREM', listing_index(prefix, owner, nil), id)
    if status then redis.call('ZREM', listing_index(prefix, owner, status), id) end
  end
end
""", needs=(LISTING_INDEX,))

# json_field(key, name): a hash field stored JSON-encoded (shared.task_store), decoded; nil for
# a missing field or JSON null.
JSON_FIELD = Lua("""
local function json_field(key, name)
  local raw = redis.call('HGET', key, name)
  if not raw then return nil end
  local value = cjson.decode(raw)
  if value == cjson.null then return nil end
  return value
end
""")

# record_id(key): the id a record's key ends with (``bf:session:<id>`` -> ``<id>``).
RECORD_ID = Lua("""
local function record_id(key) return string.match(key, '([^:]+)$') end
""")
