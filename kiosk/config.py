"""The lane's configuration: built-in sections, loading, and the rendered defaults and docs.

Adapters add their own sections with :func:`kiosk.config_schema.register_section` before
:func:`load_config` runs; every registered section ends up in :attr:`KioskConfig.sections`.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kiosk.config_schema import (
    SECTIONS,
    ConfigProblem,
    Field,
    Section,
    allowed_words,
    register_section,
    toml_literal,
    validate,
)
from kiosk.core.settings import CoreSettings
from kiosk.errors import ConfigError

# Built-in defaults come from CoreSettings itself so the two can never drift apart.
_CORE = CoreSettings()
_ID_PATTERN = r"[a-z0-9-]{1,32}"
_ID_HELP = '1 to 32 lowercase letters, digits or "-"'
_NON_EMPTY = r"\S.*"
_NON_EMPTY_HELP = "a non-empty path"


def _check_produce_weights(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    low, high = values["min_produce_weight_g"], values["max_produce_weight_g"]
    if low >= high:
        yield (
            "min_produce_weight_g",
            f"must be below max_produce_weight_g ({high}); got {low}",
        )


KIOSK_SECTION = register_section(
    Section(
        "kiosk",
        "who this lane is and where it keeps its files",
        (
            Field("id", str, "lane-01", "name of this lane; it becomes the MQTT client id",
                  pattern=_ID_PATTERN, pattern_help=_ID_HELP),
            Field("store", str, "store-01", "name of the store this lane belongs to",
                  pattern=_ID_PATTERN, pattern_help=_ID_HELP),
            Field("default_language", str, "en", "language of the welcome screen",
                  choices=("en", "zh")),
            Field("data_dir", str, "var/opensco",
                  "folder for the session journal and the outbox of unsent events",
                  pattern=_NON_EMPTY, pattern_help=_NON_EMPTY_HELP),
            Field("training", bool, False,
                  "training mode: simulated payment only, every event marked training, "
                  "nothing counted as a sale or a loss-prevention flag (docs/training.md)"),
        ),
    )
)  # fmt: skip

CHECKOUT_SECTION = register_section(
    Section(
        "checkout",
        "business rules of the lane (times in milliseconds, weights in grams)",
        (
            Field("currency", str, _CORE.currency, "currency of the catalog prices",
                  pattern=r"[A-Z]{3}", pattern_help="a three-letter ISO 4217 code such as CNY"),
            Field("currency_exponent", int, _CORE.currency_exponent,
                  "digits after the decimal point of the currency, 2 for CNY",
                  minimum=0, maximum=4),
            Field("prices_include_tax", bool, _CORE.prices_include_tax,
                  "catalog prices already include tax"),
            Field("embedded_rules", list[str], _CORE.embedded_rules,
                  "in-store barcode patterns: prefix digits, '.' item code, {N..D..} value"),
            Field("embedded_price_verifier", bool, _CORE.embedded_price_verifier,
                  "in-store barcodes carry a price check digit before the value"),
            Field("same_code_timeout_ms", int, _CORE.same_code_timeout_ms,
                  "milliseconds a repeat of the same barcode counts as one scan",
                  minimum=0, maximum=10_000),
            Field("camera_scans", bool, _CORE.camera_scans,
                  "barcodes the camera reads add items; false where a scanner does the "
                  "scanning and camera reads are only evidence"),
            Field("void_requires_attendant", bool, _CORE.void_requires_attendant,
                  "removing an item from the cart needs an attendant"),
            Field("cancel_requires_attendant", bool, _CORE.cancel_requires_attendant,
                  "cancelling the whole purchase needs an attendant"),
            Field("abandon_after_ms", int, _CORE.abandon_after_ms,
                  "milliseconds without input, with items in the cart, before the attendant "
                  "is told", minimum=10_000, maximum=3_600_000),
            Field("reset_empty_after_ms", int, _CORE.reset_empty_after_ms,
                  "milliseconds an empty session waits before the welcome screen returns",
                  minimum=5_000, maximum=3_600_000),
            Field("min_produce_weight_g", int, _CORE.min_produce_weight_g,
                  "lightest stable produce weight, in grams, the lane will sell",
                  minimum=1, maximum=1_000),
            Field("max_produce_weight_g", int, _CORE.max_produce_weight_g,
                  "heaviest produce weight, in grams, the lane will sell",
                  minimum=100, maximum=100_000),
            Field("unknown_scans_before_help", int, _CORE.unknown_scans_before_help,
                  "unknown barcodes in a row before the attendant is called",
                  minimum=1, maximum=20),
        ),
        checks=(_check_produce_weights,),
    )
)  # fmt: skip

CATALOG_SECTION = register_section(
    Section(
        "catalog",
        "the product list the lane sells from",
        (
            Field("path", str, "examples/catalog.csv", "CSV file of the products on sale",
                  pattern=_NON_EMPTY, pattern_help=_NON_EMPTY_HELP),
        ),
    )
)  # fmt: skip

LOGGING_SECTION = register_section(
    Section(
        "logging",
        "how much the lane writes to its log, and where",
        (
            Field("level", str, "INFO", "least important messages that are still logged",
                  choices=("DEBUG", "INFO", "WARNING", "ERROR")),
            Field("file", str, "", 'log file as well as the screen; "" logs to stderr only'),
        ),
    )
)  # fmt: skip


class ConfigFileError(ConfigError):
    """A configuration that cannot be used, with every problem kept for ``sco config check``."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(_format_problems(source, self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce would call __init__ with the message only.
        return (type(self), (self.source, self.problems))


def _format_problems(source: str, problems: Sequence[ConfigProblem]) -> str:
    if len(problems) == 1 and not problems[0].path:
        return f"{source}: {problems[0].message}"
    count = f"{len(problems)} configuration problem{'s' if len(problems) != 1 else ''}"
    return "\n".join([f"{source}: {count}:", *(f"  {p}" for p in problems)])


@dataclass(frozen=True)
class KioskConfig:
    """The validated configuration of one lane. ``sections`` holds every registered section."""

    kiosk_id: str
    store_id: str
    default_language: str
    data_dir: str
    catalog_path: str
    log_level: str
    log_file: str
    sections: dict[str, dict[str, Any]]

    def core_settings(self, journal_id: str = "replay") -> CoreSettings:
        """Settings for the pure core; ``journal_id`` comes from the journal database."""
        from kiosk.security_config import security_settings

        return CoreSettings(
            kiosk_id=self.kiosk_id,
            store_id=self.store_id,
            journal_id=journal_id,
            training=self.sections["kiosk"]["training"],
            **self.sections["checkout"],
            security=security_settings(self.sections["security"]),
        )


# Every adapter package's config sections, imported in this order: the one place that
# decides what a lane's config file may contain (and the order of docs/configuration.md).
SECTION_MODULES: tuple[str, ...] = (
    "kiosk.security_config",
    "hardware.scale.config",
    "hardware.peripherals_config",
    "backend_client.config",
    "vision.config",
    "models.registry",
    "kiosk.ui.config",
    "kiosk.ops.config",
)


def register_all_sections() -> None:
    for module in SECTION_MODULES:
        importlib.import_module(module)


BUILTIN_SECTIONS = ("kiosk", "checkout", "catalog", "logging")


def ordered_sections() -> list[Section]:
    """Built-in sections first, then the adapters' by name: an order that does not depend
    on which module happened to be imported first."""
    register_all_sections()
    builtin = [SECTIONS[name] for name in BUILTIN_SECTIONS]
    others = sorted(
        (s for n, s in SECTIONS.items() if n not in BUILTIN_SECTIONS), key=lambda s: s.name
    )
    return builtin + others


def parse_config_text(text: str, source: str = "<string>") -> KioskConfig:
    """Parse and validate TOML text; every problem goes into one ConfigFileError."""
    register_all_sections()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # The message ends with "(at line L, column C)", which is what a technician needs.
        raise ConfigFileError(source, [ConfigProblem("", f"not valid TOML: {err}")]) from err
    values, problems = validate(data)
    if problems:
        raise ConfigFileError(source, problems)
    kiosk, catalog, logging_ = values["kiosk"], values["catalog"], values["logging"]
    return KioskConfig(
        kiosk_id=kiosk["id"],
        store_id=kiosk["store"],
        default_language=kiosk["default_language"],
        data_dir=kiosk["data_dir"],
        catalog_path=catalog["path"],
        log_level=logging_["level"],
        log_file=logging_["file"],
        sections=values,
    )


def load_config(path: str | os.PathLike[str] | None) -> KioskConfig:
    """Load the lane's TOML file; ``None`` gives all defaults. Raises ConfigError."""
    if path is None:
        return parse_config_text("", "<defaults>")
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as err:
        message = f"configuration file not found (working directory {os.getcwd()})"
        raise ConfigFileError(source, [ConfigProblem("", message)]) from err
    except OSError as err:
        message = f"cannot read the configuration file: {err.strerror or err}"
        raise ConfigFileError(source, [ConfigProblem("", message)]) from err
    try:
        # utf-8-sig: Windows Notepad starts files with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        message = f"is not UTF-8 text (bad byte at offset {err.start}); save it as UTF-8"
        raise ConfigFileError(source, [ConfigProblem("", message)]) from err
    return parse_config_text(text, source)


_HEADER = """\
# OpenSCO lane configuration.
# Every key is shown at its default value; keys left out take their default.
# Secrets are never written here: give <name>_env = "ENV_VAR" or <name>_file = "/path".
# Relative paths are relative to the folder the kiosk is started from.
"""


def render_default_config() -> str:
    """A complete, commented TOML file of every registered section at its defaults."""
    lines = [_HEADER]
    for section in ordered_sections():
        lines.append(f"# {section.description}")
        lines.append(f"[{section.name}]")
        for f in section.fields:
            lines.append(f"# {f.description} ({allowed_words(f)})")
            if f.secret:
                env = f"OPENSCO_{section.name}_{f.name}".upper()
                lines.append(f'# {f.name}_env = "{env}"')
                lines.append(f'# {f.name}_file = "/etc/opensco/{section.name}-{f.name}"')
            else:
                lines.append(f"{f.name} = {toml_literal(f.default)}")
        lines.append("")
    return "\n".join(lines)


_DOC_HEADER = """\
# Configuration reference

<!-- Generated by kiosk.config.render_markdown_reference(); do not edit by hand. Regenerate:
.venv/bin/python -c 'import kiosk.config as c; print(c.render_markdown_reference(), end="")' \\
    > docs/configuration.md
-->

The lane reads one TOML file (`sco config check FILE` validates it; `sco config defaults`
prints a commented file with every default). Unknown sections and keys are errors, and every
problem is reported at once, e.g. `checkout.same_code_timeout_ms: must be between 0 and 10000
(...); got 99999`.

Secrets are never written in the file. For a secret key `password`, write either
`password_env = "ENV_VAR_NAME"` (an environment variable holding it) or
`password_file = "/path/to/file"` (a file holding it; a final newline is ignored).

Relative paths are relative to the folder the kiosk is started from.
"""


def render_markdown_reference() -> str:
    """Markdown tables of every registered section, for ``docs/configuration.md``."""
    parts = [_DOC_HEADER.rstrip("\n")]
    for section in ordered_sections():
        parts.append(f"\n## `[{section.name}]`\n\n{_cap(section.description)}.\n")
        parts.append("| Key | Default | Allowed | Description |")
        parts.append("| --- | --- | --- | --- |")
        for f in section.fields:
            key = f"`{f.name}_env` / `{f.name}_file`" if f.secret else f"`{f.name}`"
            default = "(none)" if f.secret else f"`{toml_literal(f.default)}`"
            cells = [key, default, _md(allowed_words(f)), _md(_cap(f.description))]
            parts.append("| " + " | ".join(cells) + " |")
    return "\n".join(parts) + "\n"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _md(text: str) -> str:
    return text.replace("|", "\\|")
