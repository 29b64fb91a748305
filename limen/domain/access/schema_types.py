"""Checking Graph JSON against a declared shape, and normalising it.

A shape is a tree of `ObjectType`s whose `Field`s say what JSON each property takes. `Checker.object`
walks a document against it and returns the normalised form:

* Graph's annotations (`@odata.type`, `prop@odata.type`, `@odata.context`, `#microsoft.graph.restore`
  action links) and server-set properties (`ObjectType.ignored`) are accepted and dropped, because
  exports carry them and a re-import must not fail on them;
* every property Graph v1.0 defines is present (`[]` for collections, null otherwise), as Graph's own
  GET returns it, so the engine never has to tell "missing" from "null" from "empty";
* properties only beta has (`Field.fill = False`) are kept when they carry a value;
* where Graph is lenient, so are we: null for a collection reads as `[]`, `[]` for an object as null;
* a property name or enum value that differs from Graph's only in case is normalised, with a warning;
  a deprecated enum value is replaced by its successor, with a warning.

Anything else that does not fit (an unknown property, a wrong JSON type, a value outside the enum) is
an error at a precise JSON path, e.g. `conditions.users.includeUsers[2]`. The walk collects every
error, so a file can be fixed in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from limen.domain.errors import ValidationFailed

GRAPH_NAMESPACE = "microsoft.graph."


def child(path: str, key: str) -> str:
    """`conditions` + `users` -> `conditions.users`."""
    return f"{path}.{key}" if path else key


def item(path: str, index: int) -> str:
    """`conditions.users.includeUsers` + 2 -> `conditions.users.includeUsers[2]`."""
    return f"{path}[{index}]"


@dataclass(frozen=True, slots=True)
class Issue:
    """An error or warning about one place in a document."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PolicyInvalid(ValidationFailed):
    """A document breaks Graph's schema or a documented rule.

    `path` is the JSON path of the first problem (empty for the document as a whole) and `reason` says
    what is wrong; `errors` lists every problem found, first one first.
    """

    def __init__(self, path: str, reason: str, errors: Sequence[Issue] = ()) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason
        self.errors: tuple[Issue, ...] = tuple(errors) or (Issue(path, reason),)


class Kind(Enum):
    """The JSON a property takes; the value is how messages describe it."""

    STRING = "a string"
    BOOL = "a boolean"
    INT = "an integer"
    STRINGS = "an array of strings"
    ENUM = "a string (enum)"
    ENUMS = "an array of strings (enum)"
    #: Graph's flag enums travel as one comma-separated string ("internalGuest,serviceProvider").
    FLAGS = "a comma-separated string"
    OBJECT = "an object"
    OBJECTS = "an array of objects"
    #: An object kept as given (annotations removed): beta shapes Limen stores but does not interpret.
    OPAQUE = "an object (stored as given)"


@dataclass(frozen=True, slots=True)
class Field:
    kind: Kind
    #: Allowed values of ENUM, ENUMS and FLAGS, in Graph's spelling.
    values: tuple[str, ...] = ()
    #: Graph's name of the enum type, for messages.
    enum_name: str = ""
    type: ObjectType | None = None
    #: Must be present and not null.
    required: bool = False
    #: A v1.0 property: always present in the normalised document. Beta-only ones are kept when set.
    fill: bool = True
    #: Deprecated enum values and their successors.
    replaced: Mapping[str, str] = field(default_factory=dict)
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectType:
    """A Graph complex or entity type. Abstract ones list their concrete `subtypes`."""

    name: str
    fields: Mapping[str, Field] = field(default_factory=dict)
    #: Server-set or read-only properties: accepted on input (exports carry them) and dropped.
    ignored: frozenset[str] = frozenset()
    subtypes: tuple[ObjectType, ...] = ()
    #: For an abstract type: the concrete type's name when `@odata.type` is absent but the content
    #: leaves no doubt (e.g. a CIDR range's address family). None means `@odata.type` is required.
    infer: Callable[[Mapping[str, Any]], str | None] | None = None
    #: Other `@odata.type` names that denote this type (the policy's strength reference is a
    #: `#microsoft.graph.authenticationStrengthPolicy`).
    aliases: tuple[str, ...] = ()
    #: Rules between this object's fields, run on the normalised object when its fields are valid.
    check: Callable[[Checker, dict[str, Any], str], None] | None = None


def type_name(odata_type: object) -> str:
    """`#microsoft.graph.ipNamedLocation` -> `ipNamedLocation`."""
    text = str(odata_type).lstrip("#")
    return text[len(GRAPH_NAMESPACE) :] if text.lower().startswith(GRAPH_NAMESPACE) else text


def is_annotation(key: str) -> bool:
    """`@odata.type`, `includeUsers@odata.type`, and advertised actions such as `#microsoft.graph.restore`."""
    return "@" in key or key.startswith("#")


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def strip_annotations(value: Any) -> Any:
    """A copy of `value` without OData annotations at any depth."""
    if isinstance(value, dict):
        return {k: strip_annotations(v) for k, v in value.items() if not is_annotation(k)}
    if isinstance(value, list):
        return [strip_annotations(v) for v in value]
    return value


def _one_of(values: Sequence[str]) -> str:
    return ", ".join(values)


class Checker:
    """One walk over one document: collects errors and warnings while normalising."""

    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(Issue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Issue(path, message))

    def raise_if_invalid(self) -> None:
        if self.errors:
            first = self.errors[0]
            raise PolicyInvalid(first.path, first.message, self.errors)

    # -- objects -----------------------------------------------------------------------------------

    def object(self, value: Any, shape: ObjectType, path: str) -> dict[str, Any] | None:
        """The normalised object, or None when `value` is null (or `[]`, which Graph reads as null)."""
        if value is None or value == []:
            return None
        if not isinstance(value, dict):
            self.error(path, f"expected {Kind.OBJECT.value} ({shape.name}), got {json_kind(value)}")
            return None
        concrete = self._concrete_type(value, shape, path)
        if concrete is None:
            return None
        errors_before = len(self.errors)
        result: dict[str, Any] = {}
        if shape.subtypes:
            # Graph needs the concrete type of an abstract property; keep it, in Graph's spelling.
            result["@odata.type"] = f"#{GRAPH_NAMESPACE}{concrete.name}"
        given = self._canonical_keys(value, concrete, path)
        for name, spec in concrete.fields.items():
            where = child(path, name)
            if name in given:
                normalised = self.value(given[name], spec, where)
                if normalised is not None or spec.fill:
                    result[name] = normalised
            elif spec.required:
                self.error(where, "is required")
            elif spec.fill:
                result[name] = [] if spec.kind in (Kind.STRINGS, Kind.ENUMS, Kind.OBJECTS) else None
        if concrete.check is not None and len(self.errors) == errors_before:
            concrete.check(self, result, path)
        return result

    def _concrete_type(self, value: Mapping[str, Any], shape: ObjectType, path: str) -> ObjectType | None:
        declared = value.get("@odata.type")
        if not shape.subtypes:
            if declared is not None and type_name(declared).lower() not in {
                name.lower() for name in (shape.name, *shape.aliases)
            }:
                self.error(child(path, "@odata.type"), f"is {declared!r}; expected '#{GRAPH_NAMESPACE}{shape.name}'")
                return None
            return shape
        names = {sub.name.lower(): sub for sub in shape.subtypes}
        expected = " or ".join(f"'#{GRAPH_NAMESPACE}{sub.name}'" for sub in shape.subtypes)
        if declared is None:
            inferred = shape.infer(value) if shape.infer else None
            if inferred is None:
                self.error(child(path, "@odata.type"), f"is required: {expected}")
                self._unknown_in_any(value, shape, path)
                return None
            return names[inferred.lower()]
        concrete = names.get(type_name(declared).lower())
        if concrete is None:
            self.error(child(path, "@odata.type"), f"{declared!r} is not supported; expected {expected}")
            self._unknown_in_any(value, shape, path)
        return concrete

    def _unknown_in_any(self, value: Mapping[str, Any], shape: ObjectType, path: str) -> None:
        """Without a concrete type, still name the properties no subtype defines (a misspelt export)."""
        known = {name.lower() for sub in shape.subtypes for name in (*sub.fields, *sub.ignored)}
        for key in value:
            if not is_annotation(key) and key.lower() not in known:
                self.error(child(path, key), f"property '{key}' does not exist on type '{shape.name}'")

    def _canonical_keys(self, value: Mapping[str, Any], shape: ObjectType, path: str) -> dict[str, Any]:
        """The properties `value` gives, by Graph's name; unknown ones are errors, ignored ones dropped."""
        known = {name.lower(): name for name in (*shape.fields, *shape.ignored)}
        given: dict[str, Any] = {}
        for key, raw in value.items():
            if is_annotation(key):
                continue
            name = key if key in shape.fields or key in shape.ignored else known.get(key.lower())
            if name is None:
                self.error(child(path, key), f"property '{key}' does not exist on type '{shape.name}'")
                continue
            if name != key:
                if name in value:
                    self.error(child(path, key), f"duplicates property '{name}' (names differ only in case)")
                    continue
                self.warn(child(path, key), f"property name normalised to '{name}'")
            if name in shape.fields:
                given[name] = raw
        return given

    # -- values ------------------------------------------------------------------------------------

    def value(self, raw: Any, spec: Field, path: str) -> Any:
        """The normalised value of one property, or None after recording an error."""
        kind = spec.kind
        if kind is Kind.OBJECTS:
            return self._objects(raw, spec, path)
        if kind in (Kind.OBJECT, Kind.OPAQUE):
            if kind is Kind.OPAQUE:
                if raw is None or raw == []:
                    return None
                if not isinstance(raw, dict):
                    self.error(path, f"expected an object, got {json_kind(raw)}")
                    return None
                return strip_annotations(raw)
            assert spec.type is not None
            result = self.object(raw, spec.type, path)
            if result is None and spec.required and not self._failed_at(path):
                self.error(path, "is required")
            return result
        if raw is None:
            if kind in (Kind.STRINGS, Kind.ENUMS):
                return []
            if spec.required:
                self.error(path, "is required and cannot be null")
            return None
        if kind in (Kind.STRINGS, Kind.ENUMS):
            return self._list(raw, spec, path)
        if kind is Kind.FLAGS:
            return self._flags(raw, spec, path)
        if kind is Kind.ENUM:
            return self._enum(raw, spec, path)
        if kind is Kind.BOOL:
            if not isinstance(raw, bool):
                self.error(path, f"expected {kind.value}, got {json_kind(raw)}")
                return None
            return raw
        if kind is Kind.INT:
            # bool is an int in Python; JSON true must not pass for a number.
            if not isinstance(raw, int) or isinstance(raw, bool):
                self.error(path, f"expected {kind.value}, got {json_kind(raw)}")
                return None
            return raw
        return self._string(raw, spec, path)

    def _objects(self, raw: Any, spec: Field, path: str) -> list[dict[str, Any]] | None:
        assert spec.type is not None
        if raw is None:
            if spec.required:
                self.error(path, "is required and cannot be null")
            return []
        if not isinstance(raw, list):
            self.error(path, f"expected {Kind.OBJECTS.value}, got {json_kind(raw)}")
            return None
        result: list[dict[str, Any]] = []
        for index, entry in enumerate(raw):
            where = item(path, index)
            if not isinstance(entry, dict):
                self.error(where, f"expected an object ({spec.type.name}), got {json_kind(entry)}")
            elif (normalised := self.object(entry, spec.type, where)) is not None:
                result.append(normalised)
        return result

    def _failed_at(self, path: str) -> bool:
        return any(issue.path == path or issue.path.startswith(path + ".") for issue in self.errors)

    def _string(self, raw: Any, spec: Field, path: str) -> str | None:
        if not isinstance(raw, str):
            self.error(path, f"expected {Kind.STRING.value}, got {json_kind(raw)}")
            return None
        if spec.required and not raw.strip():
            self.error(path, "must not be empty")
            return None
        if spec.max_length is not None and len(raw) > spec.max_length:
            self.error(path, f"is {len(raw)} characters long; at most {spec.max_length} are allowed")
            return None
        return raw

    def _list(self, raw: Any, spec: Field, path: str) -> list[str] | None:
        if not isinstance(raw, list):
            self.error(path, f"expected an array of strings, got {json_kind(raw)}")
            return None
        result: list[str] = []
        for index, entry in enumerate(raw):
            where = item(path, index)
            if not isinstance(entry, str):
                self.error(where, f"expected a string, got {json_kind(entry)}")
            elif not entry.strip():
                self.error(where, "must not be an empty string")
            elif spec.kind is Kind.ENUMS:
                if (normalised := self._enum(entry, spec, where)) is not None:
                    result.append(normalised)
            else:
                result.append(entry)
        return result

    def _enum(self, raw: Any, spec: Field, path: str) -> str | None:
        if not isinstance(raw, str):
            self.error(path, f"expected a string, got {json_kind(raw)}")
            return None
        if raw in spec.values:
            return raw
        if raw in spec.replaced:
            successor = spec.replaced[raw]
            self.warn(path, f"'{raw}' is deprecated; replaced by '{successor}'")
            return successor
        for value in spec.values:
            if value.lower() == raw.strip().lower():
                self.warn(path, f"'{raw}' normalised to '{value}'")
                return value
        self.error(path, f"'{raw}' is not a valid {spec.enum_name} value; expected one of {_one_of(spec.values)}")
        return None

    def _flags(self, raw: Any, spec: Field, path: str) -> str | None:
        if isinstance(raw, list):
            self.error(
                path,
                f"expected {Kind.FLAGS.value} (Graph writes the flag enum {spec.enum_name} as one string such as "
                f"'{','.join(spec.values[:2])}'), got an array",
            )
            return None
        if not isinstance(raw, str):
            self.error(path, f"expected {Kind.FLAGS.value}, got {json_kind(raw)}")
            return None
        members = [part.strip() for part in raw.split(",")]
        if not raw.strip() or any(not member for member in members):
            self.error(path, f"'{raw}' is not a valid {spec.enum_name} value; expected some of {_one_of(spec.values)}")
            return None
        normalised: list[str] = []
        for member in members:
            found = next((value for value in spec.values if value.lower() == member.lower()), None)
            if found is None:
                self.error(
                    path, f"'{member}' is not a valid {spec.enum_name} value; expected some of {_one_of(spec.values)}"
                )
                return None
            if found not in normalised:
                normalised.append(found)
        result = ",".join(normalised)
        if result != raw:
            self.warn(path, f"'{raw}' normalised to '{result}'")
        return result


# Field constructors, so the type tables read like Graph's reference pages.


def string(*, required: bool = False, fill: bool = True, max_length: int | None = None) -> Field:
    return Field(Kind.STRING, required=required, fill=fill, max_length=max_length)


def boolean(*, required: bool = False, fill: bool = True) -> Field:
    return Field(Kind.BOOL, required=required, fill=fill)


def integer(*, fill: bool = True) -> Field:
    return Field(Kind.INT, fill=fill)


def strings(*, fill: bool = True) -> Field:
    return Field(Kind.STRINGS, fill=fill)


def enum(
    name: str,
    values: Sequence[str],
    *,
    required: bool = False,
    fill: bool = True,
    replaced: Mapping[str, str] | None = None,
) -> Field:
    return Field(Kind.ENUM, tuple(values), name, required=required, fill=fill, replaced=dict(replaced or {}))


def enums(name: str, values: Sequence[str], *, fill: bool = True, replaced: Mapping[str, str] | None = None) -> Field:
    return Field(Kind.ENUMS, tuple(values), name, fill=fill, replaced=dict(replaced or {}))


def flags(name: str, values: Sequence[str], *, required: bool = False, fill: bool = True) -> Field:
    return Field(Kind.FLAGS, tuple(values), name, required=required, fill=fill)


def obj(shape: ObjectType, *, required: bool = False, fill: bool = True) -> Field:
    return Field(Kind.OBJECT, type=shape, required=required, fill=fill)


def objects(shape: ObjectType, *, required: bool = False, fill: bool = True) -> Field:
    return Field(Kind.OBJECTS, type=shape, required=required, fill=fill)


def opaque() -> Field:
    return Field(Kind.OPAQUE, fill=False)
