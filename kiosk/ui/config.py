"""The ``[kiosk_ui]`` section: kiosk mode, the attendant PIN hash and the required devices.

Importing this module registers the section (``kiosk.config.SECTION_MODULES`` lists it).
No Kivy here: ``sco config check`` validates it on machines without a display.
"""

from __future__ import annotations

import kiosk.config  # noqa: F401  (built-in sections register first: a stable docs order)
from kiosk.config_schema import Field, Section, register_section
from kiosk.ui.pin import PIN_HASH_PATTERN

# What start-up can probe; the order is the order of the out-of-service reason.
DEVICES = ("bagging_scale", "scan_scale", "camera", "payment", "printer", "mqtt", "disk")
DEFAULT_REQUIRED = ("bagging_scale", "payment", "disk")

KIOSK_UI_SECTION = register_section(
    Section(
        "kiosk_ui",
        "the shopper screen on real hardware (sco run): kiosk mode, attendant PIN, "
        "devices checked at start-up",
        (
            Field("fullscreen", bool, True,
                  "fill the screen; Escape and the close button ask for the attendant PIN"),
            Field("attendant_pin_hash", str, "",
                  'salted hash of the PIN that leaves kiosk mode, from `sco ui pin-hash`; '
                  '"" = the screen cannot be left from the lane (stop the service)',
                  pattern=f"({PIN_HASH_PATTERN})?",
                  pattern_help='"" or the pbkdf2-sha256$... text that `sco ui pin-hash` prints'),
            Field("pin_max_tries", int, 5,
                  "wrong PINs in a row before the PIN pad locks", minimum=1, maximum=20),
            Field("pin_lockout_s", int, 60,
                  "seconds the PIN pad stays locked; each further lockout doubles (1 h at most)",
                  minimum=5, maximum=3600),
            Field("required", list[str], DEFAULT_REQUIRED,
                  "devices without which the lane shows out of service",
                  choices=DEVICES),
            Field("probe_timeout_s", float, 5.0,
                  "seconds each start-up check may take (a camera frame, a scale reading, "
                  "the broker's CONNACK)", minimum=0.5, maximum=60.0),
            Field("recheck_s", int, 15,
                  "seconds between checks of the required devices while the lane runs "
                  "(out of service between sales when one fails twice, back when all work); "
                  "0 = only at start-up", minimum=0, maximum=3600),
            Field("min_free_disk_mb", int, 500,
                  "free megabytes the data folder's disk needs (the journal must never fill it)",
                  minimum=10, maximum=1_000_000),
            Field("large_text", bool, False, "start with large text"),
            Field("high_contrast", bool, False, "start with high-contrast colours"),
            Field("preview", bool, True,
                  "show the live camera preview with zones and tracked items"),
        ),
    )
)  # fmt: skip
