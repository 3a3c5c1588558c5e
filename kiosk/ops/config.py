"""``[ops]``: operations settings of a lane (metrics endpoint, telemetry, scheduled backups).

One section for every operations tool; each tool reads only its own keys.
"""

from __future__ import annotations

from kiosk.config_schema import Field, Section, register_section

OPS_SECTION = register_section(
    Section(
        "ops",
        "operations: the loopback /metrics endpoint, telemetry and scheduled backups",
        (
            Field("metrics_port", int, 0,
                  "port of the Prometheus /metrics endpoint on 127.0.0.1; 0 turns it off",
                  minimum=0, maximum=65535),
            Field("tele_interval_s", int, 15,
                  "seconds between telemetry messages on the tele topic",
                  minimum=1, maximum=3600),
            Field("backup_dir", str, "",
                  'folder for scheduled local backups; "" turns them off'),
            Field("backup_every_h", int, 24, "hours between scheduled backups",
                  minimum=1, maximum=24 * 30),
            Field("backup_keep", int, 7, "scheduled backups kept; older ones are deleted",
                  minimum=1, maximum=365),
        ),
    )
)  # fmt: skip
