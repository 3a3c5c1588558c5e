"""Built-in scale protocols; importing this package registers them."""

from hardware.scale.protocols import continuous, magellan, nci, sics, toledo8217

__all__ = ["continuous", "magellan", "nci", "sics", "toledo8217"]
