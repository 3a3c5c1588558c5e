"""A tiny schema toolkit for the lane's TOML configuration.

Each part of the kiosk (core, scales, camera, MQTT, ...) describes its own ``[section]`` as a
:class:`Section` of :class:`Field` s and registers it; :func:`validate` then checks a parsed
TOML document against every registered section and returns *problems* instead of raising, so a
technician sees all mistakes at once. Nothing here reads files or the environment, except
:meth:`SecretRef.read`, which an adapter calls when it actually needs the secret.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from kiosk.errors import ConfigError

# A section-wide rule over the already validated values: yields (key, message) pairs.
SectionCheck = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]

_SUPPORTED_TYPES: tuple[object, ...] = (int, float, str, bool, list[str])
_TYPE_WORDS: dict[object, str] = {
    int: "a whole number",
    float: "a number",
    str: "text in quotes",
    bool: "true or false",
    list[str]: "a list of texts in quotes",
}
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_SUFFIXES = ("_env", "_file")


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in the configuration; ``path`` is ``"section.key"`` or ``""`` for the file."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives. The validated config holds this, never the secret itself."""

    path: str
    env: str | None = None
    file: str | None = None

    def read(self) -> str:
        """Fetch the secret now; a missing variable or unreadable file is a ConfigError."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"{self.path}: environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            with open(self.file, encoding="utf-8") as handle:
                # Editors add a final newline; a password never ends with one on purpose.
                return handle.read().rstrip("\r\n")
        except OSError as err:
            raise ConfigError(
                f"{self.path}: cannot read secret file {self.file}: {err.strerror}"
            ) from err


@dataclass(frozen=True)
class Field:
    """One key of a section: its type, default, bounds and a one-line description.

    ``description`` is a short lowercase phrase; it is shown in error messages in parentheses.
    ``pattern`` (a regex that must match the whole text) goes with ``pattern_help``, the same
    rule in words. A ``secret`` field is text read from ``<name>_env`` or ``<name>_file``.
    """

    name: str
    type: object
    default: Any
    description: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[Any, ...] | None = None
    secret: bool = False
    pattern: str | None = None
    pattern_help: str = ""

    def __post_init__(self) -> None:
        # Schema mistakes are programmer errors: fail at import time, not on a lane.
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"field name {self.name!r} must be lowercase snake_case")
        if self.type not in _SUPPORTED_TYPES:
            raise ValueError(f"field {self.name!r}: unsupported type {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.pattern is not None and not self.pattern_help:
            raise ValueError(f"field {self.name!r}: a pattern needs a pattern_help in words")
        if self.secret:
            if self.type is not str or self.default is not None:
                raise ValueError(f"secret field {self.name!r} must be str with default None")
            return
        if isinstance(self.default, list):
            object.__setattr__(self, "default", tuple(self.default))
        _value, message = check_value(self, self.default)
        if message is not None:
            raise ValueError(f"field {self.name!r}: default {self.default!r} {message}")


@dataclass(frozen=True)
class Section:
    """A ``[name]`` table of the configuration file."""

    name: str
    description: str
    fields: tuple[Field, ...]
    checks: tuple[SectionCheck, ...] = field(default=())

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"section name {self.name!r} must be lowercase snake_case")
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "checks", tuple(self.checks))
        keys: list[str] = []
        for f in self.fields:
            keys.extend(_file_keys(f))
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"section {self.name!r}: duplicate keys {duplicates}")

    def defaults(self) -> dict[str, Any]:
        """Every field at its default value (secrets: ``None``, i.e. not configured)."""
        return {f.name: f.default for f in self.fields}

    def file_keys(self) -> list[str]:
        """The keys a file may use: field names, or ``<name>_env``/``<name>_file`` for secrets."""
        return [k for f in self.fields for k in _file_keys(f)]


SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> Section:
    """Add a section to the schema; each adapter registers its own, explicitly, once."""
    if section.name in SECTIONS:
        raise RuntimeError(f"duplicate config section {section.name!r}")
    SECTIONS[section.name] = section
    return section


def validate(data: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[ConfigProblem]]:
    """Check a parsed TOML document against every registered section.

    Returns the values of all registered sections (defaults for missing or bad keys) and the
    list of problems, in file order. It never raises on bad input, whatever its shape.
    """
    values = {name: section.defaults() for name, section in SECTIONS.items()}
    problems: list[ConfigProblem] = []
    if not isinstance(data, Mapping):
        problems.append(ConfigProblem("", f"must be a set of sections; got {describe(data)}"))
        return values, problems
    for raw_name, raw_section in data.items():
        name = str(raw_name)
        section = SECTIONS.get(name)
        if section is None:
            problems.append(ConfigProblem(name, _unknown_section(name, raw_section)))
        elif not isinstance(raw_section, Mapping):
            problems.append(
                ConfigProblem(
                    name,
                    f"must be a section: write [{name}] on its own line with its keys below; "
                    f"got {describe(raw_section)}",
                )
            )
        else:
            section_problems = _validate_section(section, raw_section, values[name])
            problems.extend(section_problems)
    return values, problems


def check_value(f: Field, raw: Any) -> tuple[Any, str | None]:
    """Type, bounds, choices and pattern of one plain value: ``(value, None)`` or an error."""
    if f.type == list[str]:
        if not isinstance(raw, list | tuple):
            return None, f"must be {_TYPE_WORDS[f.type]}; got {describe(raw)}"
        for index, item in enumerate(raw):
            _item, message = _check_scalar(f, str, item)
            if message is not None:
                return None, f"item {index + 1}: {message}"
        return tuple(raw), None
    return _check_scalar(f, cast(type, f.type), raw)


def _check_scalar(f: Field, kind: type, raw: Any) -> tuple[Any, str | None]:
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        raw = float(raw)
    # bool is a subclass of int, but `same_code_timeout_ms = true` is surely a mistake.
    if not isinstance(raw, kind) or (kind is not bool and isinstance(raw, bool)):
        hint = ""
        if isinstance(raw, str) and kind in (int, float, bool) and _parses_as(kind, raw):
            hint = "; write it without quotes"
        return None, f"must be {_TYPE_WORDS[kind]}; got {describe(raw)}{hint}"
    if isinstance(raw, float) and not math.isfinite(raw):
        return None, f"must be a finite number; got {describe(raw)}"
    why = f" ({f.description})"
    if f.choices is not None and raw not in f.choices:
        allowed = ", ".join(toml_literal(c) for c in f.choices)
        got = _shown(raw)
        return None, f"must be one of {allowed}{why}; got {got}{_suggest_choice(f, raw)}"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        low, high = f.minimum, f.maximum
        if (low is not None and raw < low) or (high is not None and raw > high):
            return None, f"must be {bounds_words(f)}{why}; got {toml_literal(raw)}"
    if isinstance(raw, str) and f.pattern is not None and not re.fullmatch(f.pattern, raw):
        return None, f"must be {f.pattern_help}{why}; got {_shown(raw)}"
    return raw, None


def _validate_section(
    section: Section, raw_section: Mapping[Any, Any], values: dict[str, Any]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    by_key = {f.name: f for f in section.fields}
    refs: dict[str, dict[str, str]] = {}  # secret field name -> {"env"|"file": value}
    for raw_key, raw in raw_section.items():
        key = str(raw_key)
        path = f"{section.name}.{key}"
        f = by_key.get(key)
        if f is not None and f.secret:
            problems.append(ConfigProblem(path, _literal_secret_message(f.name)))
            continue
        if f is not None:
            value, message = check_value(f, raw)
            if message is not None:
                problems.append(ConfigProblem(path, message))
            else:
                values[key] = value
            continue
        secret_field, kind = _secret_target(by_key, key)
        if secret_field is None:
            problems.append(ConfigProblem(path, _unknown_key(section, key)))
            continue
        message = _check_secret_ref(kind, raw)
        if message is not None:
            problems.append(ConfigProblem(path, message))
        else:
            refs.setdefault(secret_field.name, {})[kind] = raw
    for name, given in refs.items():
        path = f"{section.name}.{name}"
        if len(given) > 1:
            problems.append(ConfigProblem(path, f"give either {name}_env or {name}_file, not both"))
        else:
            values[name] = SecretRef(path, env=given.get("env"), file=given.get("file"))
    # Cross-field rules only make sense once each field is valid on its own.
    if not problems:
        for check in section.checks:
            for key, message in check(values):
                problems.append(ConfigProblem(f"{section.name}.{key}", message))
    return problems


def _secret_target(by_key: Mapping[str, Field], key: str) -> tuple[Field | None, str]:
    for suffix in _SECRET_SUFFIXES:
        f = by_key.get(key.removesuffix(suffix)) if key.endswith(suffix) else None
        if f is not None and f.secret:
            return f, suffix[1:]
    return None, ""


def _check_secret_ref(kind: str, raw: Any) -> str | None:
    # Never echo the value: a technician may have pasted the secret itself here.
    if kind == "env":
        if isinstance(raw, str) and _ENV_NAME_RE.fullmatch(raw):
            return None
        return (
            'must be the name of an environment variable in quotes (letters, digits and "_"); '
            "the value is not shown in case it is the secret itself"
        )
    if isinstance(raw, str) and raw.strip():
        return None
    return "must be the path of the file holding the secret, in quotes"


def _literal_secret_message(name: str) -> str:
    return (
        f'secrets are never written in this file; give {name}_env = "ENV_VAR_NAME" '
        f'(an environment variable holding it) or {name}_file = "/path/to/file" '
        "(a file holding it)"
    )


def _unknown_section(name: str, raw: Any) -> str:
    if not isinstance(raw, Mapping):
        # A plain key above every [section] header: say where it belongs.
        homes = [s.name for s in SECTIONS.values() if name in s.file_keys()]
        if homes:
            return f'key "{name}" is outside any section; move it under [{homes[0]}]'
        return f'key "{name}" is outside any section and is not a known key'
    return f"unknown section [{name}]{_did_you_mean(name, list(SECTIONS), '[{}]')}"


def _unknown_key(section: Section, key: str) -> str:
    suggestion = _did_you_mean(key, section.file_keys(), '"{}"')
    if not suggestion:
        homes = [s.name for s in SECTIONS.values() if key in s.file_keys()]
        if homes:
            suggestion = f"; it belongs in [{homes[0]}]"
    return f'unknown key "{key}"{suggestion}'


def _did_you_mean(word: str, candidates: list[str], shape: str) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f"; did you mean {shape.format(close[0])}?" if close else ""


def _suggest_choice(f: Field, raw: Any) -> str:
    # "info" for "INFO" is the usual slip; say so rather than make them read the list.
    assert f.choices is not None
    if isinstance(raw, str):
        for choice in f.choices:
            if isinstance(choice, str) and choice.lower() == raw.lower():
                return f"; did you mean {toml_literal(choice)}?"
    return ""


def _parses_as(kind: object, text: str) -> bool:
    if kind is bool:
        return text.strip().lower() in ("true", "false")
    try:
        int(text) if kind is int else float(text)
    except ValueError:
        return False
    return True


def _file_keys(f: Field) -> list[str]:
    return [f.name + s for s in _SECRET_SUFFIXES] if f.secret else [f.name]


def bounds_words(f: Field) -> str:
    """The numeric range in words: "between 0 and 10000", "at least 1", "at most 5"."""
    low, high = f.minimum, f.maximum
    if low is not None and high is not None:
        return f"between {toml_literal(low)} and {toml_literal(high)}"
    if low is not None:
        return f"at least {toml_literal(low)}"
    return f"at most {toml_literal(high)}"


def allowed_words(f: Field) -> str:
    """What a field accepts, in words, for comments and docs."""
    if f.secret:
        return f"secret: give {f.name}_env or {f.name}_file"
    parts = [_TYPE_WORDS[f.type].removeprefix("a ").removesuffix(" in quotes")]
    if f.choices is not None:
        parts = ["one of " + ", ".join(toml_literal(c) for c in f.choices)]
    if f.minimum is not None or f.maximum is not None:
        parts.append(bounds_words(f).replace("between ", "").replace(" and ", " to "))
    if f.pattern is not None:
        parts = [f.pattern_help]
    return ", ".join(parts)


def toml_literal(value: Any) -> str:
    """A value as TOML source text (the subset the schema supports)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(_escape_control(c) for c in escaped) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _escape_control(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x20 or code == 0x7F else char


def describe(value: Any) -> str:
    """A value as a technician reads it in an error message; long values are cut."""
    if isinstance(value, bool):
        return f"{toml_literal(value)} (true/false)"
    if isinstance(value, int):
        return f"{value} (a whole number)"
    if isinstance(value, float):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        return f"{_shown(value)} (text)"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a section/table"
    return f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    # Long texts are cut so one bad line does not flood the technician's screen.
    if isinstance(value, str) and len(value) > 40:
        value = value[:37] + "..."
    return toml_literal(value)
