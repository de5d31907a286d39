"""The sandbox's reading of Amazon Pinpoint's contract: botocore's service model, and nothing else.

Routing comes from each operation's `http.method` and `http.requestUri`; request bodies are validated
against the operation's input payload shape (required members, member types, enum values, unknown
members rejected); errors are the model's exception shapes (`{"Message", "RequestID"}` with the
`x-amzn-ErrorType` header) so that a real boto3 client raises `ClientError` with the right code.
The sandbox deliberately shares no code with the exporter: both read the same contract independently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

# Enumerations that Pinpoint enforces although the model types the member as a plain string.
EXTRA_STRING_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("EndpointBatchItem", "OptOut"): ("ALL", "NONE"),
    ("EndpointBatchItem", "EndpointStatus"): ("ACTIVE", "INACTIVE"),
    ("EndpointRequest", "OptOut"): ("ALL", "NONE"),
    ("EndpointRequest", "EndpointStatus"): ("ACTIVE", "INACTIVE"),
}


class ApiError(Exception):
    """An error answered the way Pinpoint answers it: status, error code (model exception name), message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> ApiError:
    """A 400 BadRequestException, what Pinpoint answers for any invalid request."""
    return ApiError(400, "BadRequestException", message)


def not_found(message: str) -> ApiError:
    """A 404 NotFoundException."""
    return ApiError(404, "NotFoundException", message)


@cache
def pinpoint_model() -> ServiceModel:
    """botocore's Pinpoint service model (`pinpoint/2016-12-01/service-2.json`), loaded once."""
    return botocore.session.get_session().get_service_model("pinpoint")


@dataclass(frozen=True)
class Route:
    """One operation's HTTP binding compiled to a regular expression over the request path."""

    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    literal_chars: int

    @property
    def name(self) -> str:
        return self.operation.name


@dataclass(frozen=True)
class Match:
    """A routed request: the operation and its URI parameters mapped to input member names."""

    operation: OperationModel
    params: dict[str, str]


def _compile(uri: str) -> tuple[re.Pattern[str], int]:
    path = uri.split("?", 1)[0]
    regex, literal = "", 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            greedy = part.endswith("+}")
            name = part.strip("{}+").replace("-", "_")
            regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
            literal += len(part)
    return re.compile(f"^{regex}/?$"), literal


class Router:
    """Maps (method, path) to a Pinpoint operation, most specific URI template first."""

    def __init__(self, model: ServiceModel | None = None) -> None:
        self.model = model or pinpoint_model()
        routes = []
        for name in self.model.operation_names:
            op = self.model.operation_model(name)
            pattern, literal = _compile(op.http["requestUri"])
            routes.append(Route(op, op.http["method"].upper(), pattern, literal))
        self.routes = sorted(routes, key=lambda r: -r.literal_chars)

    def match(self, method: str, path: str) -> Match | None:
        """The operation bound to `method` and `path`, or None. URI members are URL-decoded."""
        path_allowed = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            path_allowed = True
            if route.method != method.upper():
                continue
            values = {k: unquote(v) for k, v in found.groupdict().items()}
            params: dict[str, str] = {}
            for member, shape in route.operation.input_shape.members.items():
                if shape.serialization.get("location") == "uri":
                    key = shape.serialization["name"].strip("+").replace("-", "_")
                    if key in values:
                        params[member] = values[key]
            return Match(route.operation, params)
        if path_allowed:
            raise ApiError(405, "MethodNotAllowedException", f"Method {method} is not allowed on {path}")
        return None


def payload_shape(operation: OperationModel) -> tuple[str, Shape] | None:
    """The (member name, shape) carried as the JSON body of `operation`, if it has one."""
    inp = operation.input_shape
    if inp is None:
        return None
    member = inp.serialization.get("payload")
    if member:
        return member, inp.members[member]
    return None


def validate_shape(value: Any, shape: Shape, path: str = "") -> list[str]:
    """All the ways `value` violates `shape` (empty list if it conforms). Unknown members are errors."""
    where = path or shape.name
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        errors = [f"{where}.{name}: required" for name in shape.required_members if value.get(name) is None]
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                errors.append(f"{where}.{name}: unknown member")
            elif item is not None:
                errors.extend(validate_shape(item, member, f"{where}.{name}"))
                allowed = EXTRA_STRING_ENUMS.get((shape.name, name))
                if allowed and isinstance(item, str) and item not in allowed:
                    errors.append(f"{where}.{name}: {item!r} is not one of {', '.join(allowed)}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        errors = []
        for i, item in enumerate(value):
            errors.extend(validate_shape(item, shape.member, f"{where}[{i}]"))
        return errors
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map"]
        errors = []
        for key, item in value.items():
            errors.extend(validate_shape(key, shape.key, f"{where} key"))
            errors.extend(validate_shape(item, shape.value, f"{where}.{key}"))
        return errors
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string"]
        if shape.enum and value not in shape.enum:
            return [f"{where}: {value!r} is not one of {', '.join(shape.enum)}"]
        return []
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer"]
    if kind == "double":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    if kind == "timestamp":
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a timestamp"]
    if kind == "blob":
        return [] if isinstance(value, str) else [f"{where}: expected base64 text"]
    return [f"{where}: unsupported shape type {kind}"]


def shape(name: str) -> Shape:
    """A named shape of the Pinpoint model (e.g. `EndpointBatchItem`)."""
    return pinpoint_model().shape_for(name)
