"""Hostile ``structuredOutput`` schemas are refused by the producer, naming the field, fast.

Each of these stalled or crashed something before: a backtracking pattern on the worker's
event loop, a recursive ``$ref`` (RecursionError), thousands of nested ``not``/arrays (an
HTTP 500), references that multiply validation work. Patterns RE2 can run are accepted and
run on RE2 in the worker, where ``^(a+)+$`` is linear.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from producer import TaskValidationError
from shared.output_schema import SchemaError, load_output_schema, validation_error


def _fanout(levels: int) -> dict[str, Any]:
    """Each level refers to the next twice: 2**levels paths, no cycle."""
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
            for i in range(levels)}
    defs[f"d{levels}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


HOSTILE: list[tuple[str, str]] = [
    (json.dumps({"$ref": "#"}), "recursive reference"),
    (json.dumps({"type": "object", "properties": {"a": {"$ref": "#"}}}), "recursive reference"),
    (json.dumps({"$defs": {"x": {"items": {"$ref": "#/$defs/y"}}, "y": {"$ref": "#/$defs/x"}},
                 "$ref": "#/$defs/x"}), "recursive reference"),
    ('{"not": ' * 2000 + "{}" + "}" * 2000, "levels deep"),
    ("[" * 100_000 + "]" * 100_000, "characters"),
    ('{"items": ' + "[" * 1000 + "]" * 1000 + "}", "levels deep"),
    (json.dumps({"type": "string", "pattern": "^(a)\\1$"}), "linear-time regex engine"),
    (json.dumps({"type": "string", "pattern": "(?=a)a"}), "linear-time regex engine"),
    (json.dumps({"patternProperties": {"(?<=x)y": {}}}), "linear-time regex engine"),
    (json.dumps({"$ref": "https://attacker.test/schema.json"}), "only local JSON-pointer"),
    (json.dumps({"$dynamicRef": "#meta"}), "dynamic references"),
    (json.dumps(_fanout(20)), "too complex"),
    (json.dumps({"description": "x" * 70_000}), "characters"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("schema", "reason"), HOSTILE, ids=[r for _, r in HOSTILE])
def test_hostile_schemas_are_refused_naming_the_field(producer, schema: str, reason: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        producer.validate({"task": "t", "structuredOutput": schema})
    assert [e["loc"] for e in info.value.errors] == [["structuredOutput"]]
    assert reason in str(info.value)


def test_a_backtracking_pattern_is_accepted_and_validated_in_linear_time() -> None:
    schema = load_output_schema(json.dumps({
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }))
    hostile = "a" * 50_000 + "b"  # Python's re would take longer than the universe has left
    assert validation_error(schema, {"code": "aaa"}) is None
    assert "does not match" in (validation_error(schema, {"code": hostile}) or "")
    assert "unexpected" in (validation_error(schema, {"x" * 50_000 + "y": 1}) or "")
    assert validation_error(schema, {"xxx": "not an int"}) is not None


def test_ordinary_references_are_fine() -> None:
    schema = load_output_schema(json.dumps({
        "$defs": {"item": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "type": "array",
        "items": {"$ref": "#/$defs/item"},
    }))
    assert validation_error(schema, [{"name": "a"}]) is None
    assert validation_error(schema, [{"name": 1}]) == "0/name: 1 is not of type 'string'"


def test_a_data_keyword_is_not_read_as_a_regex() -> None:
    load_output_schema(json.dumps({"enum": [{"pattern": "(a)\\1"}]}))
    with pytest.raises(SchemaError):
        load_output_schema(json.dumps({"properties": {"p": {"pattern": "(a)\\1"}}}))
