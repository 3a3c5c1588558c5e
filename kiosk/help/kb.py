"""The troubleshooting knowledge base: ``docs/manual/<lang>/troubleshooting.md`` parsed into
entries keyed by ``sco doctor`` check id, so the doctor, the attendant tablet and the
calibration app all show the same words a technician reads in the manual.

An entry starts with a level-2 heading ``## <check id> — <title>`` and runs to the next
level-2 heading; anything before the first entry is the file's introduction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "zh")
MANUAL_DIR = Path(__file__).resolve().parents[2] / "docs" / "manual"
_HEADING = re.compile(r"^## (?P<id>[a-z][a-z0-9_.-]*) — (?P<title>\S.*)$")
_FENCE = re.compile(r"^```")


class KnowledgeBaseError(ValueError):
    """The troubleshooting file cannot be read or has a malformed entry."""


@dataclass(frozen=True)
class Entry:
    check_id: str
    title: str
    body: str  # the entry's Markdown, without its heading
    lang: str

    def plain(self) -> str:
        """The body for a screen: no Markdown emphasis or link syntax, code kept as text."""
        text = re.sub(r"\*\*(.+?)\*\*", r"\1", self.body)
        text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
        text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
        text = text.replace("`", "")
        joiner = "" if self.lang == "zh" else " "  # Chinese wraps without spaces
        paragraphs = ["\n".join(ln for ln in block.splitlines() if not _FENCE.match(ln))
                      for block in re.split(r"\n\s*\n", text)]  # fmt: skip
        return "\n\n".join(
            joiner.join(ln.strip() for ln in p.splitlines()) for p in paragraphs if p.strip()
        ).replace("。 ", "。")


@dataclass(frozen=True)
class KnowledgeBase:
    lang: str
    path: Path
    entries: dict[str, Entry]

    def get(self, check_id: str) -> Entry | None:
        return self.entries.get(check_id)


def kb_path(lang: str, root: Path = MANUAL_DIR) -> Path:
    if lang not in LANGUAGES:
        raise KnowledgeBaseError(f"no manual in language {lang!r} (have: {', '.join(LANGUAGES)})")
    return root / lang / "troubleshooting.md"


def parse(text: str, lang: str, path: Path) -> KnowledgeBase:
    entries: dict[str, Entry] = {}
    current: tuple[str, str] | None = None
    body: list[str] = []
    in_code = False

    def close() -> None:
        if current is not None:
            entries[current[0]] = Entry(current[0], current[1], "\n".join(body).strip(), lang)

    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            in_code = not in_code  # a "## " inside a code block is not a heading
        if not in_code and line.startswith("## "):
            match = _HEADING.match(line)
            if match is None:
                raise KnowledgeBaseError(
                    f"{path}:{number}: an entry heading must read '## <check id> — <title>'"
                )
            close()
            if match["id"] in entries:
                raise KnowledgeBaseError(f"{path}:{number}: entry {match['id']!r} appears twice")
            current, body = (match["id"], match["title"].strip()), []
            continue
        if current is not None:
            body.append(line)
    close()
    return KnowledgeBase(lang, path, entries)


@lru_cache(maxsize=8)
def load_kb(lang: str = "en", root: Path = MANUAL_DIR) -> KnowledgeBase:
    path = kb_path(lang, root)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise KnowledgeBaseError(f"cannot read {path}: {err.strerror or err}") from err
    return parse(text, lang, path)


def lookup(check_id: str, lang: str = "en") -> Entry | None:
    """The entry for a doctor check id, in ``lang``; English when that language lacks it."""
    entry = load_kb(lang).get(check_id)
    if entry is None and lang != "en":
        entry = load_kb("en").get(check_id)
    return entry


def kb_reference(check_id: str, lang: str = "en") -> str | None:
    """Where a person reads more about a finding: ``docs/manual/en/troubleshooting.md § camera``.

    None when the manual has no entry (or cannot be read): the doctor still reports the finding.
    """
    try:
        entry = lookup(check_id, lang)
    except KnowledgeBaseError:
        return None
    if entry is None:
        return None
    rel = kb_path(entry.lang).relative_to(MANUAL_DIR.parents[1])
    return f"{rel.as_posix()} § {check_id}"
