"""The runnable-block convention of docs/manual/ (see docs/manual/README.md): find every
```console block, its marker and its commands, so tests/test_manuals.py can run them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MANUAL = Path(__file__).resolve().parents[1] / "docs" / "manual"
_MARKER = re.compile(r"^<!--\s*(?P<kind>run|no-run)\s*(?::\s*(?P<arg>.*?))?\s*-->\s*$")
_HEREDOC = re.compile(r"<<-?\s*'?(?P<end>[A-Za-z_]+)'?")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence
    runnable: bool
    reason: str  # why it is not runnable; empty when it is
    expect_exit: int  # of the block's last command; every other command must exit 0
    commands: tuple[str, ...]

    def where(self) -> str:
        return f"{self.path.relative_to(MANUAL.parents[1])}:{self.line}"


class ConventionError(ValueError):
    pass


def commands_of(lines: list[str]) -> list[str]:
    """``$ `` lines are commands (a trailing ``\\`` continues, a here-document runs to its
    end word); every other line is example output."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("$ "):
            continue
        command = [line[2:]]
        while command[-1].endswith("\\") and i < len(lines):
            command.append(lines[i].removeprefix("> "))
            i += 1
        heredoc = _HEREDOC.search(command[0])
        if heredoc:
            while i < len(lines):
                command.append(lines[i])
                i += 1
                if command[-1].strip() == heredoc["end"]:
                    break
        out.append("\n".join(command))
    return out


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("```console"):
            i += 1
            continue
        start = i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ConventionError(f"{path}:{start + 1}: a console block is never closed")
        marker = _MARKER.match(lines[start - 1]) if start else None
        if marker is None:
            raise ConventionError(f"{path}:{start + 1}: a console block needs <!-- run --> or "
                                  "<!-- no-run: why --> on the line above it")  # fmt: skip
        arg = (marker["arg"] or "").strip()
        runnable = marker["kind"] == "run"
        expect = 0
        if runnable and arg:
            exit_arg = re.fullmatch(r"exit=(\d+)", arg)
            if exit_arg is None:
                raise ConventionError(f"{path}:{start}: unknown run option {arg!r}")
            expect = int(exit_arg[1])
        if not runnable and not arg:
            raise ConventionError(f"{path}:{start}: no-run must say why (<!-- no-run: ... -->)")
        commands = tuple(commands_of(lines[start + 1 : end]))
        if not commands:
            raise ConventionError(f"{path}:{start + 1}: a console block without a $ command")
        found.append(Block(path, start + 1, runnable, "" if runnable else arg, expect, commands))
        i = end + 1
    return found


def manual_files() -> list[Path]:
    return sorted(MANUAL.glob("*/*.md"))
