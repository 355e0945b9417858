"""``structuredOutput`` schemas that cannot stall a worker, and their validator.

A JSON Schema is code the user hands us. Unbounded, it can stop a worker process: a
``pattern`` such as ``^(a+)+$`` backtracks exponentially in Python's ``re`` (which holds
the GIL, so every task, thread and lease renewal of the process stops with it),
``{"$ref": "#"}`` recurses forever, thousands of nested ``not``/arrays overflow the stack,
and ``anyOf`` over references can multiply validation work. So a schema is accepted only
when it is small (:data:`MAX_SCHEMA_CHARS`), shallow (:data:`MAX_DEPTH`), its references
are local JSON pointers that never lead back into themselves, its size with every
reference inlined stays under :data:`MAX_EXPANDED_NODES`, and every regular expression
compiles in RE2, a linear-time engine. The worker validates the model's data with RE2 too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import jsonschema
import re2
from jsonschema.exceptions import ValidationError

MAX_SCHEMA_CHARS = 64 * 1024
MAX_DEPTH = 32
MAX_REFS = 100
MAX_EXPANDED_NODES = 20_000
MAX_PATTERN_CHARS = 1000
# Keywords whose values are data, not schemas: a "pattern" key inside them is no regex.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
_REFUSED_KEYWORDS = {
    "$dynamicRef": "dynamic references are not supported",
    "$recursiveRef": "recursive references are not supported",
}

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class SchemaError(ValueError):
    """Why a schema is refused; the message names where in the schema."""


def load_output_schema(text: str) -> dict[str, Any]:
    """Parse and bound a ``structuredOutput`` schema; raises :class:`SchemaError` saying why."""
    if len(text) > MAX_SCHEMA_CHARS:
        raise SchemaError(f"schema is {len(text)} characters; at most {MAX_SCHEMA_CHARS}")
    depth = _json_depth(text)
    if depth > MAX_DEPTH:
        raise SchemaError(f"schema nests {depth} levels deep; at most {MAX_DEPTH}")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(schema, dict):
        raise SchemaError("must be a JSON object holding a JSON Schema")
    check_schema(schema)
    return schema


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse a schema that could make validation slow or endless (see the module doc)."""
    refs = 0
    has_pattern_properties = has_unevaluated = False
    for path, node in _schema_nodes(schema):
        for keyword, why in _REFUSED_KEYWORDS.items():
            if keyword in node:
                raise SchemaError(f"{_where(path, keyword)}: {why}")
        if isinstance(node.get("pattern"), str):
            compile_pattern(node["pattern"], _where(path, "pattern"))
        props = node.get("patternProperties")
        if isinstance(props, dict):
            has_pattern_properties = True
            for pattern in props:
                compile_pattern(pattern, _where(path, "patternProperties"))
        has_unevaluated |= "unevaluatedProperties" in node
        if "$ref" in node:
            refs += 1
            if refs > MAX_REFS:
                raise SchemaError(f"more than {MAX_REFS} $ref")
            _check_ref(schema, node["$ref"], path)
    if has_pattern_properties and has_unevaluated:
        raise SchemaError("unevaluatedProperties together with patternProperties is not supported")
    _check_expansion(schema)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"not a valid JSON Schema: {exc.message}") from None


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, options=_RE2_OPTIONS)


def compile_pattern(pattern: str, where: str = "pattern") -> Any:
    """``pattern`` compiled by RE2; :class:`SchemaError` if too long or not RE2 syntax."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise SchemaError(f"{where}: a pattern may have at most {MAX_PATTERN_CHARS} characters")
    try:
        return _compiled(pattern)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise SchemaError(
            f"{where}: {pattern[:100]!r} is not supported by the linear-time regex engine "
            f"({detail}); backreferences and lookaround are not allowed"
        ) from None


def output_validator(schema: dict[str, Any]) -> Any:
    """A validator for ``schema`` whose regular expressions run on RE2, never on ``re``."""
    base = jsonschema.validators.validator_for(schema)
    cls = jsonschema.validators.extend(
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
    return cls(schema)


def validation_error(schema: dict[str, Any], data: Any) -> str | None:
    """The first way ``data`` fails ``schema`` (``where: message``), or ``None``."""
    check_schema(schema)  # also for records stored before these bounds existed
    error = jsonschema.exceptions.best_match(output_validator(schema).iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "data"
    return f"{where}: {error.message[:500]}"


# -- RE2 keywords ---------------------------------------------------------------------
def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance[:100]!r} does not match {pattern[:100]!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = compile_pattern(pattern)
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    regexes = [compile_pattern(p) for p in schema.get("patternProperties", {})]
    extras = [k for k in instance if k not in known and not any(r.search(k) for r in regexes)]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif additional is False and extras:
        names = ", ".join(repr(k[:50]) for k in sorted(extras)[:20])
        yield ValidationError(f"additional properties are not allowed ({names} unexpected)")


# -- bounds ---------------------------------------------------------------------------
def _json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, counted without parsing (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


Path = tuple[str, ...]


def _schema_nodes(schema: Any) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every object in the schema that is (part of) a schema, with its path; iterative."""
    stack: list[tuple[Path, Any]] = [((), schema)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            yield path, node
            for key, value in node.items():
                if key not in _DATA_KEYWORDS:
                    stack.append(((*path, str(key)), value))
        elif isinstance(node, list):
            stack.extend(((*path, str(i)), item) for i, item in enumerate(node))


def _where(path: Path, keyword: str) -> str:
    return "/" + "/".join((*path, keyword))


def _pointer(ref: Any, at: Path) -> Path:
    """A local ``$ref`` as a path; anything else (remote, anchors) is refused."""
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        raise SchemaError(
            f"{_where(at, '$ref')}: only local JSON-pointer references ('#' or '#/...') are allowed"
        )
    parts = unquote(ref[1:]).split("/")[1:]
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in parts)


def _resolve(schema: Any, pointer: Path, at: Path) -> Any:
    node = schema
    for part in pointer:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f"{_where(at, '$ref')}: points to nothing in the schema")
    return node


def _check_ref(schema: dict[str, Any], ref: Any, at: Path) -> None:
    _resolve(schema, _pointer(ref, at), at)


def _check_expansion(schema: dict[str, Any]) -> None:
    """Walk the schema with every ``$ref`` inlined: refuse cycles and an oversized expansion.

    A reference is recursive when its target contains the place it is used, or contains a
    target already being expanded on the way there.
    """
    stack: list[tuple[Path, Any, tuple[Path, ...]]] = [((), schema, ())]
    visited = 0
    while stack:
        path, node, chain = stack.pop()
        visited += 1
        if visited > MAX_EXPANDED_NODES:
            raise SchemaError(
                f"schema too complex: more than {MAX_EXPANDED_NODES} parts with references inlined"
            )
        if isinstance(node, dict):
            if "$ref" in node:
                target = _pointer(node["$ref"], path)
                if any(_within(place, target) for place in (path, *chain)):
                    raise SchemaError(f"{_where(path, '$ref')}: recursive reference {node['$ref']!r}")
                stack.append((target, _resolve(schema, target, path), (*chain, path, target)))
            for key, value in node.items():
                if key not in _DATA_KEYWORDS and key != "$ref":
                    stack.append(((*path, str(key)), value, chain))
        elif isinstance(node, list):
            stack.extend(((*path, str(i)), item, chain) for i, item in enumerate(node))


def _within(place: Path, target: Path) -> bool:
    """Whether ``place`` is ``target`` or inside it."""
    return place[: len(target)] == target
