"""Write accepted scale settings into the lane's TOML file, keeping the technician's comments.

Only ``key = value`` lines of plain ``[section]`` tables are touched: a value is replaced
in place (an inline comment after it is kept), a missing key is added at the end of its
section, a missing section at the end of the file. The result is validated with the lane's
own schema and read back before it replaces the file (atomically, the old one kept as
``<file>.bak``); anything it cannot edit safely is refused with what to write by hand.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.config_schema import toml_literal
from kiosk.errors import ConfigError
from kiosk.files import write_atomically

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[")


def _key_line(key: str) -> re.Pattern[str]:
    # value: anything up to an inline comment; our keys are numbers, so no '#' inside.
    return re.compile(rf"^(\s*{re.escape(key)}\s*=\s*)([^#\n]*?)(\s*#.*)?$")


def edit_toml(text: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    """``text`` with ``changes[section][key] = value`` applied line by line."""
    lines = text.splitlines()
    for section, values in changes.items():
        start, end = _section_span(lines, section)
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines.append(f"[{section}]")
            start, end = len(lines) - 1, len(lines)
        for key, value in values.items():
            pattern = _key_line(key)
            for index in range(start + 1, end):
                match = pattern.match(lines[index])
                if match:
                    lines[index] = f"{match[1]}{toml_literal(value)}{match[3] or ''}"
                    break
            else:
                last = end
                while last - 1 > start and not lines[last - 1].strip():
                    last -= 1  # after the section's last line, before the blank gap
                lines.insert(last, f"{key} = {toml_literal(value)}")
                end += 1
    return "\n".join(lines) + "\n"


def _section_span(lines: list[str], section: str) -> tuple[int | None, int]:
    start: int | None = None
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header or _ARRAY_HEADER.match(line):
            if start is not None:
                return start, index
            if header and header[1] == section:
                start = index
    return start, len(lines)


def apply_settings(
    config_path: str | Path, changes: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Write ``changes`` into the config file; returns ``{section: {key: {before, after}}}``
    for the values that changed. Raises ConfigError (file untouched) when it cannot."""
    from kiosk.config import parse_config_text

    path = Path(config_path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    before = parse_config_text(text, str(path)).sections
    wanted = {
        section: {k: v for k, v in values.items() if before[section].get(k) != v}
        for section, values in changes.items()
    }
    wanted = {s: v for s, v in wanted.items() if v}
    if not wanted:
        return {}
    new_text = edit_toml(text, wanted)
    after = parse_config_text(new_text, f"{path} (edited)").sections
    for section, values in wanted.items():
        for key, value in values.items():
            if after[section][key] != value:
                raise ConfigError(
                    f"{path}: could not set [{section}] {key} automatically (unusual layout); "
                    f"write `{key} = {toml_literal(value)}` under [{section}] by hand"
                )
    shutil.copyfile(path, path.with_name(path.name + ".bak"))
    write_atomically(path, new_text)
    return {
        section: {k: {"before": before[section][k], "after": v} for k, v in values.items()}
        for section, values in wanted.items()
    }
