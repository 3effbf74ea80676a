"""Messages between the add-on and the engine worker: one JSON object per line with "v" (the protocol version) and
"type". Requests are checked field by field against schema.REQUESTS; a bad one raises BadRequest naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .schema import MAX_JOB_LENGTH, REQUESTS, REQUIRED_WITH, Field

PROTOCOL_VERSION = 1
MAX_QUOTED_MESSAGE = 2000  # characters of an error message a reply carries; past it, a marked excerpt
MAX_INT_DIGITS = 64  # longer integers are out of every field's range; Python would refuse past 4300 digits
KINDS = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
         "list": "a list", "object": "an object", "map": "an object"}


def excerpt(text: Any, limit: int = MAX_JOB_LENGTH) -> str:
    """`text` as a reply may quote it: whole when it has at most `limit` characters, else its start and a mark
    saying how long it was. Nothing a client sends comes back longer than this."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... [cut: {len(text)} characters]"


class BadRequest(ValueError):
    """A request the worker cannot run; `field` names the part that is wrong ("request" for the line itself),
    `kind` is "bad_input", or "protocol" for another protocol version. A reply quotes `job` as an excerpt."""

    def __init__(self, field: str, message: str, job: str | None = None, kind: str = "bad_input"):
        super().__init__(message if field in ("request", "") else f"{excerpt(field)}: {message}")
        self.field, self.job, self.kind = excerpt(field), job, kind


@dataclass
class Request:
    """One checked request: its type, its job (None only for shutdown) and every field it gave, "type" included."""

    type: str
    job: str | None
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, message: Mapping[str, Any]) -> "Request":
        """A request from a dict (without "v"), checked against the schema; raises BadRequest."""
        return _checked(dict(message))

    def encode(self) -> str:
        return json.dumps({"v": PROTOCOL_VERSION, **self.fields, "type": self.type}, allow_nan=False)


@dataclass
class Event:
    """One message from the worker: its type (ready, check, progress, result, error with a kind of bad_input,
    protocol, out_of_memory or internal, cancelled), its job (None when the request had none) and the rest."""

    type: str
    job: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, **self.fields, "type": self.type, "job": self.job}

    def encode(self) -> str:
        return json.dumps(self.as_dict())


def decode_event(line: str) -> Event | None:
    """The event on a line of the worker's output, or None when the line is not one (stray output)."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    job = data.pop("job", None)
    kind = data.pop("type")
    data.pop("v", None)
    return Event(kind, None if job is None else str(job), data)


def _parse_int(digits: str) -> int | float:
    return int(digits) if len(digits) <= MAX_INT_DIGITS else math.copysign(math.inf, -1 if digits[0] == "-" else 1)


def decode_request(line: str | bytes) -> Request:
    """The request on one line; raises BadRequest (naming the field) for anything the worker cannot run."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("request", f"the request is not UTF-8 text (byte {exc.start}); send JSON in "
                                        "UTF-8") from None
    try:
        message = json.loads(line, parse_int=_parse_int)
    except RecursionError:
        raise BadRequest("request", "the request nests too deeply to read; send a flat JSON object") from None
    except ValueError as exc:
        raise BadRequest("request", f"the request is not JSON ({exc}); send one JSON object per line") from None
    if not isinstance(message, dict):
        raise BadRequest("request", f"the request is {_kind_of(message)}, not a JSON object")
    job = message.get("job") if isinstance(message.get("job"), str) else None
    version = message.pop("v", None)
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        shown = version if isinstance(version, (int, float, str)) and len(str(version)) < 20 else _kind_of(version)
        raise BadRequest("v", f"protocol version {shown} is not supported by this engine (it speaks "
                              f"{PROTOCOL_VERSION}); update the add-on and engine together", job, kind="protocol")
    return _checked(message)


def _checked(message: dict[str, Any]) -> Request:
    job = message.get("job") if isinstance(message.get("job"), str) else None
    kind = message.get("type")
    if not isinstance(kind, str):
        raise BadRequest("type", f"expected the request type as a string, got {_kind_of(kind)}", job)
    table = REQUESTS.get(kind)
    if table is None:
        raise BadRequest("type", f"unknown request type '{_short(kind)}'; this engine knows "
                                 f"{', '.join(REQUESTS)}", job)
    fields = {key: value for key, value in message.items() if key != "type"}
    _check_object(fields, table, "", job)
    for request_type, given, items, key in REQUIRED_WITH:
        if kind == request_type and fields.get(given) is not None:
            for index, item in enumerate(fields.get(items) or ()):
                if key not in item:
                    raise BadRequest(f"{items}[{index}].{key}", f"missing; with a {given}, every entry needs it", job)
    return Request(kind, job, {"type": kind, **fields})


def _check_object(value: dict, table: Mapping[str, Field], path: str, job: str | None) -> None:
    for key in value:
        if key not in table:
            name = f"{path}.{_short(key)}" if path else _short(key)
            raise BadRequest(name, f"unknown field; {'this object' if path else 'this request'} takes "
                                   f"{', '.join(table) or 'no fields'}", job)
    for key, spec in table.items():
        name = f"{path}.{key}" if path else key
        if key not in value:
            if spec.required:
                raise BadRequest(name, "missing; this request needs it", job)
            continue
        _check_value(value[key], spec, name, job)


def _check_value(value: Any, spec: Field, path: str, job: str | None) -> None:
    if value is None:
        if not spec.nullable:
            raise BadRequest(path, f"expected {KINDS[spec.kind]}, got null", job)
        return
    expected = {"str": str, "bool": bool, "list": list, "object": dict, "map": dict}.get(spec.kind)
    if expected is not None and not isinstance(value, expected):
        raise BadRequest(path, f"expected {KINDS[spec.kind]}, got {_kind_of(value)}", job)
    if spec.kind in ("int", "float"):
        _check_number(value, spec, path, job)
    elif spec.kind == "str":
        if len(value) > spec.max_length:
            raise BadRequest(path, f"{len(value)} characters is too long (at most {spec.max_length})", job)
        if spec.choices and value not in spec.choices:
            raise BadRequest(path, f"'{_short(value)}' is not one of {', '.join(spec.choices)}", job)
    elif spec.kind in ("list", "map"):
        if len(value) > spec.max_length:
            raise BadRequest(path, f"{len(value)} entries are too many (at most {spec.max_length})", job)
        if len(value) < spec.min_length:
            raise BadRequest(path, f"give at least {spec.min_length} entr{'y' if spec.min_length == 1 else 'ies'}",
                             job)
        assert spec.items is not None
        entries = enumerate(value) if spec.kind == "list" else value.items()
        for key, item in entries:
            if spec.kind == "map" and spec.int_keys and not _is_int_text(str(key)):
                raise BadRequest(f"{path}.{_short(key)}", "the key must be a whole number (a region id)", job)
            _check_value(item, spec.items, f"{path}[{key}]" if spec.kind == "list" else f"{path}.{_short(key)}", job)
    elif spec.kind == "object":
        assert spec.fields is not None
        _check_object(value, spec.fields, path, job)


def _check_number(value: Any, spec: Field, path: str, job: str | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(path, f"expected {KINDS[spec.kind]}, got {_kind_of(value)}", job)
    if math.isnan(value):
        raise BadRequest(path, "NaN is not a number; give a finite value", job)
    if math.isinf(value):
        raise BadRequest(path, f"{'-' if value < 0 else ''}infinity (or a number that large) is out of range", job)
    if spec.kind == "int" and not isinstance(value, int):
        raise BadRequest(path, f"expected a whole number, got {value!r}", job)
    if not spec.minimum <= value <= spec.maximum:
        shown = value if abs(value) < 1e15 else f"{value:.3g}"
        raise BadRequest(path, f"{shown} is out of range ({spec.minimum:g} to {spec.maximum:g})", job)


def _is_int_text(key: str) -> bool:
    if len(key) > MAX_INT_DIGITS:
        return False
    try:
        int(key)
    except ValueError:
        return False
    return True


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    for kind, described in ((str, "a string"), (int, "a whole number"), (float, "a number"), (list, "a list"),
                            (dict, "an object")):
        if isinstance(value, kind):
            return described
    return type(value).__name__


def _short(text: Any, limit: int = 60) -> str:
    return excerpt(text, limit)
