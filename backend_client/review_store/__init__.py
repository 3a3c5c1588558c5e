"""The loss-prevention review store: flagged events, their snapshots, labels and precision.

``ReviewStore.open(url)`` takes a SQLite path (or ``sqlite:///...``) or a ``postgresql://``
URL; ``docs/review.md`` describes the schema, the flag rules, retention and the access log.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FlagDetail",
    "FlagFilter",
    "FlagRow",
    "PrecisionPoint",
    "RetentionPolicy",
    "ReviewStore",
    "SnapshotInfo",
]


def __getattr__(name: str) -> Any:
    # Lazy: the receiver imports this package's db layer, and the store imports the receiver.
    if name in __all__:
        from backend_client.review_store import store, types

        return getattr(types, name, None) or getattr(store, name)
    raise AttributeError(name)
