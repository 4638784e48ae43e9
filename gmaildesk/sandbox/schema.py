"""Checks sandbox responses against the Gmail discovery document shipped in google-api-python-client.

Stricter than the document itself: objects may not carry properties the schema does
not define, so the sandbox cannot invent fields Gmail never returns.
"""

from __future__ import annotations

import copy
import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is a test dependency, imported only when validation is switched on
    from jsonschema import Draft7Validator

_DROP = ("id", "annotations", "enumDescriptions", "deprecated")


def discovery_document() -> dict[str, Any]:
    from googleapiclient.discovery_cache import get_static_doc

    document: dict[str, Any] = json.loads(get_static_doc("gmail", "v1"))
    return document


def method_index(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every method of the document by its id, e.g. 'gmail.users.labels.list'."""
    found: dict[str, dict[str, Any]] = {}

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            found[method["id"]] = method
        for sub in resource.get("resources", {}).values():
            walk(sub)

    walk(doc)
    return found


def _to_json_schema(node: object, *, strict: bool) -> object:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            if key in _DROP:  # property *names* never reach here: see "properties" below
                continue
            if key == "$ref" and isinstance(value, str):
                out[key] = f"#/definitions/{value}"
            elif key == "properties":
                out[key] = {name: _to_json_schema(prop, strict=strict) for name, prop in value.items()}
            else:
                out[key] = _to_json_schema(value, strict=strict)
        if strict and out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_to_json_schema(v, strict=strict) for v in node]
    return node


class ResponseValidator:
    """Validate a method's JSON response against its `response.$ref` schema."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self.doc = discovery_document()
        self.methods = method_index(self.doc)
        self._validators: dict[str, Draft7Validator] = {}

    @cached_property
    def definitions(self) -> dict[str, Any]:
        return {
            name: _to_json_schema(copy.deepcopy(schema), strict=self.strict)
            for name, schema in self.doc["schemas"].items()
        }

    def response_schema(self, method_id: str) -> str | None:
        method = self.methods.get(method_id)
        return method.get("response", {}).get("$ref") if method else None

    def errors(self, method_id: str, body: object) -> list[str]:
        name = self.response_schema(method_id)
        if name is None:
            return [] if body in (None, {}, b"", "") else [f"{method_id} has no response body in Gmail"]
        validator = self._validators.get(name)
        if validator is None:
            import jsonschema

            validator = jsonschema.Draft7Validator({"definitions": self.definitions, "$ref": f"#/definitions/{name}"})
            self._validators[name] = validator
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(body)]
