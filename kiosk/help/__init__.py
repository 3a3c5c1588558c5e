"""Help for people at the lane: the troubleshooting knowledge base behind `sco doctor`."""

from kiosk.help.kb import Entry, KnowledgeBase, kb_reference, load_kb, lookup

__all__ = ["Entry", "KnowledgeBase", "kb_reference", "load_kb", "lookup"]
