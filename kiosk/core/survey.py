"""The exit survey's optional free-text comment: cleaned and bounded before it is journaled.

A comment is the shopper's own words, so it goes only into the ``survey_answered`` event
(never into logs, telemetry or payment events). Two things are taken out first: control
characters (a comment is one short paragraph, never a terminal escape or a form feed) and
anything that looks like a card number (13-19 digits, spaces or dashes between them),
because a shopper who types one should not put card data into the journal.
"""

from __future__ import annotations

import re
import unicodedata

COMMENT_MAX_CHARS = 280  # a short paragraph; the screen stops typing here too
CARD_NUMBER_MASK = "[number removed]"

# 13 to 19 digits, each optionally followed by one space or dash: the length of a PAN.
_CARD_NUMBER = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")
_SPACES = re.compile(r"\s+")


def clean_comment(raw: object) -> tuple[str, bool]:
    """``(comment, truncated)``: whitespace collapsed, control characters and card-like
    numbers removed, at most :data:`COMMENT_MAX_CHARS` characters. Anything that is not a
    string gives an empty comment (the score still counts)."""
    if not isinstance(raw, str):
        return "", False
    printable = "".join(
        " " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in raw
    )
    text = _SPACES.sub(" ", printable).strip()
    text = _CARD_NUMBER.sub(CARD_NUMBER_MASK, text)
    if len(text) <= COMMENT_MAX_CHARS:
        return text, False
    return text[:COMMENT_MAX_CHARS].rstrip(), True
