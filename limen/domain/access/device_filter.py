"""Filter for devices: the rule language of Conditional Access `devices.deviceFilter` (SPEC.md §3.8).

A rule is `device.<property> -<operator> <value>` comparisons joined by `-and` / `-or`, with
parentheses; `-and` binds tighter than `-or`. Strings are double-quoted (a `\\"` inside is a quote),
booleans are `True` / `False`, and `-in` / `-notIn` take a JSON-style array `["a", "b"]`.

Limen's decisions (SPEC.md §10): property names, operator names and values compare
case-insensitively, `True` / `False` likewise (quoted or not). A property the device does not have
is null: a positive operator on null is false, a negative one is true (SPEC §3.8: an unregistered
device, whose every property is null, matches `-ne` rules and not `-eq` ones).

Extension attributes are only filled in for devices that are Intune-managed, compliant or hybrid
joined (SPEC §3.8): a rule that reads one never matches another registered device, whatever its
operators; on an unregistered device the null semantics above apply as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

MAX_RULE_LENGTH = 3072

#: A device as the engine reads it: property name (lower case) -> lower-case string, tuple of
#: lower-case strings (collection properties), or None (null).
NormalizedDevice = Mapping[str, str | tuple[str, ...] | None]


class RuleSyntaxError(ValueError):
    """A rule that does not parse. `position` is the 0-based offset of the offending character."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position
        self.message = message


class Mode(StrEnum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


class Operator(StrEnum):
    EQ = "-eq"
    NE = "-ne"
    STARTS_WITH = "-startsWith"
    NOT_STARTS_WITH = "-notStartsWith"
    ENDS_WITH = "-endsWith"
    NOT_ENDS_WITH = "-notEndsWith"
    CONTAINS = "-contains"
    NOT_CONTAINS = "-notContains"
    IN = "-in"
    NOT_IN = "-notIn"

    @property
    def negative(self) -> bool:
        return self in _NEGATIVE


_NEGATIVE = frozenset(
    {Operator.NE, Operator.NOT_STARTS_WITH, Operator.NOT_ENDS_WITH, Operator.NOT_CONTAINS, Operator.NOT_IN}
)
#: Each negative operator is its positive counterpart, negated (including on null: SPEC §3.8).
_POSITIVE_OF = {
    Operator.NE: Operator.EQ,
    Operator.NOT_STARTS_WITH: Operator.STARTS_WITH,
    Operator.NOT_ENDS_WITH: Operator.ENDS_WITH,
    Operator.NOT_CONTAINS: Operator.CONTAINS,
    Operator.NOT_IN: Operator.IN,
}
_OPERATORS = {op.value.lower(): op for op in Operator}


class Kind(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    COLLECTION = "collection"


_ALL_STRING_OPS = frozenset(Operator)
_EQ_NE = frozenset({Operator.EQ, Operator.NE})
_ID_OPS = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN})
_COLLECTION_OPS = frozenset({Operator.CONTAINS, Operator.NOT_CONTAINS})


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    kind: Kind
    operators: frozenset[Operator]


#: The properties of SPEC.md §3.8, with the operators each supports.
PROPERTIES: dict[str, Property] = {
    p.name.lower(): p
    for p in (
        Property("deviceId", Kind.STRING, _ID_OPS),
        Property("displayName", Kind.STRING, _ALL_STRING_OPS),
        Property("deviceOwnership", Kind.STRING, _EQ_NE),
        Property("enrollmentProfileName", Kind.STRING, _ALL_STRING_OPS),
        Property("isCompliant", Kind.BOOLEAN, _EQ_NE),
        Property("manufacturer", Kind.STRING, _ALL_STRING_OPS),
        Property("mdmAppId", Kind.STRING, _ID_OPS),
        Property("model", Kind.STRING, _ALL_STRING_OPS),
        Property("operatingSystem", Kind.STRING, _ALL_STRING_OPS),
        Property("operatingSystemVersion", Kind.STRING, _ALL_STRING_OPS),
        Property("physicalIds", Kind.COLLECTION, _COLLECTION_OPS),
        Property("profileType", Kind.STRING, _EQ_NE),
        Property("systemLabels", Kind.COLLECTION, _COLLECTION_OPS),
        Property("trustType", Kind.STRING, _EQ_NE),
        *(Property(f"extensionAttribute{n}", Kind.STRING, _ALL_STRING_OPS) for n in range(1, 16)),
    )
}
_EXTENSION_ATTRIBUTES = frozenset(f"extensionattribute{n}" for n in range(1, 16))


# --- the syntax tree ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    property: Property
    operator: Operator
    #: One lower-case value, or several for -in / -notIn.
    values: tuple[str, ...]

    def evaluate(self, device: NormalizedDevice) -> bool:
        actual = device.get(self.property.name.lower())
        negative = self.operator.negative
        if actual is None:
            return negative
        op = _POSITIVE_OF.get(self.operator, self.operator)
        # Collection properties: -contains is whole-element membership (SPEC §3.8).
        hit = self.values[0] in actual if isinstance(actual, tuple) else _STRING_TESTS[op](actual, self.values)
        return not hit if negative else hit


_STRING_TESTS: dict[Operator, Callable[[str, tuple[str, ...]], bool]] = {
    Operator.EQ: lambda actual, values: actual == values[0],
    Operator.STARTS_WITH: lambda actual, values: actual.startswith(values[0]),
    Operator.ENDS_WITH: lambda actual, values: actual.endswith(values[0]),
    Operator.CONTAINS: lambda actual, values: values[0] in actual,
    Operator.IN: lambda actual, values: actual in values,
}


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[Node, ...]

    def evaluate(self, device: NormalizedDevice) -> bool:
        return all(term.evaluate(device) for term in self.terms)


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[Node, ...]

    def evaluate(self, device: NormalizedDevice) -> bool:
        return any(term.evaluate(device) for term in self.terms)


Node = Comparison | And | Or


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed rule. `matches` says whether the device satisfies it (the filter "applies")."""

    text: str
    root: Node
    uses_extension_attributes: bool
    #: The normalized properties the comparisons read (lower case, as `Comparison.evaluate` reads them).
    properties: frozenset[str] = frozenset()

    def matches(self, device: Mapping[str, object] | None) -> bool:
        """Whether the rule is true for `device` (Graph `device` properties; None = unregistered)."""
        return self.matches_normalized(normalize_device(device))

    def matches_normalized(self, device: NormalizedDevice | None) -> bool:
        if device is None:
            return self.root.evaluate(_NULL_DEVICE)
        if self.uses_extension_attributes and not device.get(_EXTENSIONS_VISIBLE):
            return False
        return self.root.evaluate(device)


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """`conditions.devices.deviceFilter`: `include` scopes the policy to devices the rule matches,
    `exclude` removes them from scope (SPEC §3.8)."""

    mode: Mode
    rule: Rule

    def in_scope(self, device: NormalizedDevice | None) -> bool:
        """Whether the policy applies to `device` as far as the filter is concerned."""
        matched = self.rule.matches_normalized(device)
        return matched if self.mode is Mode.INCLUDE else not matched


def compile_filter(document: Mapping[str, object]) -> DeviceFilter:
    """A `conditionalAccessFilter` document (`{"mode": ..., "rule": ...}`) compiled.

    Raises RuleSyntaxError for a bad rule and ValueError for a bad mode.
    """
    mode = str(document.get("mode") or "").lower()
    if mode not in (Mode.INCLUDE, Mode.EXCLUDE):
        raise ValueError(f"deviceFilter mode must be include or exclude, not {document.get('mode')!r}")
    return DeviceFilter(Mode(mode), parse(str(document.get("rule") or "")))


_NULL_DEVICE: NormalizedDevice = {}
#: A synthetic key of normalized devices: whether extension attributes are visible to rules.
_EXTENSIONS_VISIBLE = "\x00extensions"
#: The normalized properties of a device's state: what `deviceStates` and the grant controls
#: compliantDevice and domainJoinedDevice read.
DEVICE_STATE_PROPERTIES = frozenset({"iscompliant", "trusttype"})


def normalize_device(
    device: Mapping[str, object] | None, only: frozenset[str] | None = None
) -> NormalizedDevice | None:
    """A Graph `device` (or Limen's registry record of one) in the form rules compare against.

    Keys are matched case-insensitively; extension attributes may sit at the top level or under
    Graph's `extensionAttributes`. Done once per sign-in, however many policies have filters.
    `only`: the (lower-case) properties anything will read, when known (a compiled policy set's
    rules read a few of the 29; the others are left out, which reads as absent).
    """
    if device is None:
        return None
    lowered = {str(key).lower(): value for key, value in device.items()}
    nested = lowered.get("extensionattributes")
    if isinstance(nested, Mapping):
        for key, value in nested.items():
            lowered.setdefault(str(key).lower(), value)
    normalized: dict[str, str | tuple[str, ...] | None] = {}
    wanted = PROPERTIES.items() if only is None else [(key, PROPERTIES[key]) for key in only if key in PROPERTIES]
    for key, prop in wanted:
        value = lowered.get(key)
        if value is None or (isinstance(value, str) and value == "" and prop.kind is not Kind.STRING):
            normalized[key] = None
        elif prop.kind is Kind.COLLECTION:
            items = value if isinstance(value, list | tuple | set | frozenset) else [value]
            normalized[key] = tuple(str(item).lower() for item in items)
        elif isinstance(value, bool):
            normalized[key] = "true" if value else "false"
        else:
            normalized[key] = str(value).lower()
    managed = _truthy(lowered.get("ismanaged"))
    compliant = _truthy(lowered.get("iscompliant"))
    hybrid = str(lowered.get("trusttype") or "").lower() == "serverad"
    normalized[_EXTENSIONS_VISIBLE] = "true" if managed or compliant or hybrid else None
    return normalized


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# --- the parser ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<unterminated>"(?:[^"\\]|\\.)*\\?$)
  | (?P<punct>[()\[\],])
  | (?P<word>[^\s()\[\],"]+)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string" | "punct" | "word" | "end"
    text: str
    position: int


def _tokenize(rule: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(rule):
        match = _TOKEN.match(rule, position)
        if match is None:  # pragma: no cover - the word alternative matches any other character
            raise RuleSyntaxError(position, "Unexpected character")
        kind = match.lastgroup or ""
        if kind == "unterminated":
            raise RuleSyntaxError(position, "Unterminated string: a closing double quote is missing")
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(rule)))
    return tokens


class _Parser:
    def __init__(self, rule: str) -> None:
        self.tokens = _tokenize(rule)
        self.index = 0
        self.uses_extension_attributes = False
        self.properties: set[str] = set()

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def is_word(self, *words: str) -> bool:
        return self.current.kind == "word" and self.current.text.lower() in words

    def parse(self) -> Node:
        node = self.disjunction()
        if self.current.kind != "end":
            token = self.current
            if token.text == ")":
                raise RuleSyntaxError(token.position, "Unbalanced parenthesis: ')' without a matching '('")
            raise RuleSyntaxError(token.position, f"Expected -and, -or or the end of the rule, found {token.text!r}")
        return node

    def disjunction(self) -> Node:
        terms = [self.conjunction()]
        while self.is_word("-or"):
            self.advance()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def conjunction(self) -> Node:
        terms = [self.primary()]
        while self.is_word("-and"):
            self.advance()
            terms.append(self.primary())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def primary(self) -> Node:
        token = self.current
        if token.text == "(":
            self.advance()
            node = self.disjunction()
            if self.current.text != ")":
                if self.current.kind == "end":
                    raise RuleSyntaxError(token.position, "Unbalanced parenthesis: '(' is never closed")
                raise RuleSyntaxError(self.current.position, f"Expected ')', found {self.current.text!r}")
            self.advance()
            return node
        return self.comparison()

    def comparison(self) -> Node:
        token = self.advance()
        if token.kind == "end":
            raise RuleSyntaxError(token.position, 'Expected a comparison such as device.trustType -eq "AzureAD"')
        if token.kind != "word" or not token.text.lower().startswith("device."):
            raise RuleSyntaxError(token.position, f"Expected a device property (device.<name>), found {token.text!r}")
        name = token.text[len("device.") :]
        prop = PROPERTIES.get(name.lower())
        if prop is None:
            raise RuleSyntaxError(token.position + len("device."), f"Unknown device property {name!r}")
        if name.lower() in _EXTENSION_ATTRIBUTES:
            self.uses_extension_attributes = True
        self.properties.add(prop.name.lower())
        op_token = self.advance()
        operator = _OPERATORS.get(op_token.text.lower()) if op_token.kind == "word" else None
        if operator is None:
            found = "the end of the rule" if op_token.kind == "end" else repr(op_token.text)
            raise RuleSyntaxError(op_token.position, f"Expected an operator such as -eq, found {found}")
        if operator not in prop.operators:
            allowed = ", ".join(op.value for op in Operator if op in prop.operators)
            raise RuleSyntaxError(
                op_token.position, f"Operator {operator.value} is not supported for {prop.name} (use {allowed})"
            )
        values = self.array() if operator in (Operator.IN, Operator.NOT_IN) else (self.scalar(prop),)
        return Comparison(prop, operator, values)

    def scalar(self, prop: Property) -> str:
        token = self.advance()
        if token.kind == "string":
            value = _unquote(token.text)
        elif token.kind == "word" and token.text.lower() in ("true", "false"):
            value = token.text
        else:
            found = "the end of the rule" if token.kind == "end" else repr(token.text)
            raise RuleSyntaxError(token.position, f"Expected a double-quoted value or True/False, found {found}")
        if prop.kind is Kind.BOOLEAN and value.lower() not in ("true", "false"):
            raise RuleSyntaxError(token.position, f"{prop.name} takes True or False, not {value!r}")
        return value.lower()

    def array(self) -> tuple[str, ...]:
        start = self.advance()
        if start.text != "[":
            found = "the end of the rule" if start.kind == "end" else repr(start.text)
            raise RuleSyntaxError(start.position, f'-in and -notIn take an array such as ["a", "b"], found {found}')
        values: list[str] = []
        while True:
            token = self.advance()
            if token.kind != "string":
                if token.text == "]" and not values:
                    raise RuleSyntaxError(token.position, "The array is empty")
                found = "the end of the rule" if token.kind == "end" else repr(token.text)
                raise RuleSyntaxError(token.position, f"Expected a double-quoted value in the array, found {found}")
            values.append(_unquote(token.text).lower())
            separator = self.advance()
            if separator.text == "]":
                return tuple(values)
            if separator.text != ",":
                found = "the end of the rule" if separator.kind == "end" else repr(separator.text)
                raise RuleSyntaxError(separator.position, f"Expected ',' or ']' in the array, found {found}")


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1], flags=re.DOTALL)


def parse(rule: str) -> Rule:
    """Parse a device filter rule. Raises RuleSyntaxError with the position of the first problem."""
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(MAX_RULE_LENGTH, f"A rule may be at most {MAX_RULE_LENGTH} characters long")
    if not rule.strip():
        raise RuleSyntaxError(0, "The rule is empty")
    parser = _Parser(rule)
    root = parser.parse()
    return Rule(
        text=rule,
        root=root,
        uses_extension_attributes=parser.uses_extension_attributes,
        properties=frozenset(parser.properties),
    )
