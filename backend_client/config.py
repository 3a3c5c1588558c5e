"""The ``[mqtt]`` section of the lane's configuration: broker, TLS files, outbox limits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kiosk.config_schema import Field, Section, register_section

_URL = r"mqtts?://[A-Za-z0-9.\-]+:[0-9]{1,5}"
_URL_HELP = "mqtt://HOST:PORT (plain, tests only) or mqtts://HOST:PORT (TLS)"
_SEGMENT = r"[a-z0-9][a-z0-9-]{0,31}"
_SEGMENT_HELP = "1-32 lowercase letters, digits and '-', starting with a letter or digit"


def _check_tls(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    # A TLS broker without the kiosk's own certificate cannot authenticate the lane.
    if not values["enabled"]:
        return
    if str(values["broker"]).startswith("mqtts://"):
        for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            if not values[key]:
                yield key, "an mqtts:// broker needs tls_ca_file, tls_cert_file and tls_key_file"
    elif values["tls_cert_file"]:
        yield "broker", "tls_cert_file is set but the broker URL is mqtt://; use mqtts://"


MQTT_SECTION = register_section(
    Section(
        "mqtt",
        "the link to the store backend (MQTT 5): events out, signed commands in",
        (
            Field("enabled", bool, False, "publish events and accept commands over MQTT"),
            Field("broker", str, "mqtts://127.0.0.1:8883", "address of the store broker",
                  pattern=_URL, pattern_help=_URL_HELP),
            Field("prefix", str, "opensco", "first level of every topic",
                  pattern=_SEGMENT, pattern_help=_SEGMENT_HELP),
            Field("keepalive_s", int, 20,
                  "seconds between pings; the broker declares the lane offline after 1.5x",
                  minimum=5, maximum=300),
            Field("retention_days", int, 7,
                  "days sent events stay in the outbox so the backend can ask for a replay",
                  minimum=1, maximum=365),
            Field("budget_mb", int, 512, "most disk, in MB, the journal and outbox may use",
                  minimum=16, maximum=1_000_000),
            Field("alarm_fraction", float, 0.8,
                  "share of the disk budget at which the lane raises an alarm",
                  minimum=0.1, maximum=0.99),
            Field("trust_dir", str, "",
                  'folder of public keys allowed to sign commands; "" refuses every command'),
            Field("tls_ca_file", str, "",
                  "CA certificate (PEM) the broker's certificate must chain to"),
            Field("tls_cert_file", str, "",
                  "this lane's client certificate (PEM); its CN must equal kiosk.id"),
            Field("tls_key_file", str, "", "private key (PEM) of the client certificate"),
        ),
        checks=(_check_tls,),
    )
)  # fmt: skip
