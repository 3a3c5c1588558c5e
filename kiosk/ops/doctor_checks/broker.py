"""Store broker: an MQTT 5 CONNACK with the lane's TLS settings, and the expiry of the
CA and client certificate files named in ``[mqtt]``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result
from kiosk.ui.probes import Status, probe_broker

WARN_DAYS = 30  # a certificate renewed this long before it runs out never stops a lane
TLS_FILES = (("tls_ca_file", "tls.ca", "CA certificate"),
             ("tls_cert_file", "tls.client_cert", "Client certificate"))  # fmt: skip


def check_broker(ctx: DoctorContext) -> list[CheckResult]:
    assert ctx.config is not None
    mqtt = ctx.config.sections["mqtt"]
    required = "mqtt" in ctx.config.sections["kiosk_ui"]["required"]
    if not mqtt["enabled"]:
        level = Level.FAIL if required else Level.SKIP
        return [result("broker", "Store broker", level,
                       "[mqtt] enabled is false" + (" but [kiosk_ui] requires it" if required
                                                    else ": this lane does not publish"),
                       f"Set enabled = true in [mqtt] of {ctx.config_path}, or take mqtt "
                       "out of [kiosk_ui] required.")]  # fmt: skip
    out = [_connack(ctx, mqtt)]
    if str(mqtt["broker"]).startswith("mqtts://"):
        out.extend(_tls_file(ctx, mqtt, key, check, title) for key, check, title in TLS_FILES)
        out.append(_key_file(mqtt))
    else:
        out.append(result("tls", "TLS", Level.WARN, f"{mqtt['broker']} is plain MQTT: events "
                          "and commands cross the network unencrypted",
                          "Use mqtts:// with the store's CA and this lane's certificate "
                          "(docs/mqtt.md); plain mqtt:// is for tests only."))  # fmt: skip
    return out


def _connack(ctx: DoctorContext, mqtt: dict[str, Any]) -> CheckResult:
    assert ctx.config is not None
    probe = probe_broker(mqtt, ctx.config.kiosk_id, ctx.timeout_s)
    if probe.status is Status.OK:
        return result("broker", "Store broker", Level.OK, probe.reason, broker=mqtt["broker"])
    reason = probe.reason
    if "cannot connect" in reason or "CONNACK" in reason:
        advice = ("Check the network cable and that the store broker (the backend server) is "
                  f"running and reachable at {mqtt['broker']}. The lane keeps selling and "
                  "holds its events in the outbox until the broker is back.")  # fmt: skip
    elif "TLS" in reason:
        advice = (
            "The broker and this lane do not trust each other: check the CA file, this "
            "lane's certificate and key in [mqtt], and the certificate dates below."
        )
    else:
        advice = ("The broker refused the lane: check that its certificate is enrolled on the "
                  "broker (ACL, CN equal to kiosk.id).")  # fmt: skip
    return result("broker", "Store broker", Level.FAIL, reason, advice, broker=mqtt["broker"])


def _tls_file(ctx: DoctorContext, mqtt: dict[str, Any], key: str, check: str,
              title: str) -> CheckResult:  # fmt: skip
    from cryptography import x509

    assert ctx.config is not None
    path = str(mqtt[key])
    renew = f"Renew it (deploy/mosquitto/make-certs.sh or the store's CA) and set [mqtt] {key}."
    if not path:
        return result(check, title, Level.FAIL, f"[mqtt] {key} is empty but the broker is mqtts",
                      renew)  # fmt: skip
    try:
        certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except OSError as err:
        return result(check, title, Level.FAIL, f"cannot read {path}: {err.strerror or err}",
                      f"Put the file back, or point [mqtt] {key} at it.")  # fmt: skip
    except ValueError as err:
        return result(check, title, Level.FAIL, f"{path} is not a PEM certificate ({err})",
                      renew)  # fmt: skip
    cert = min(certs, key=lambda c: c.not_valid_after_utc)  # the first in the file to expire
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    subject = cert.subject.rfc4514_string()
    days = (end - ctx.now).total_seconds() / 86400
    data = {"path": path, "subject": subject, "not_before": start.isoformat(),
            "not_after": end.isoformat(), "days_left": int(days)}  # fmt: skip
    dates = f"{subject}, valid {_day(start)} to {_day(end)}"
    if ctx.now < start:
        return result(check, title, Level.FAIL,
                      f"{path} is not valid yet: {dates}; the lane's clock says {_day(ctx.now)}",
                      "Check the lane's clock (see Clock); if the clock is right, the "
                      "certificate was issued with a wrong date: " + renew, **data)  # fmt: skip
    if ctx.now >= end:
        return result(
            check,
            title,
            Level.FAIL,
            f"{path} expired on {_day(end)}: {dates}",
            "The broker refuses an expired certificate. " + renew,
            **data,
        )
    if days < WARN_DAYS:
        return result(check, title, Level.WARN,
                      f"{path} expires in {int(days)} days, on {_day(end)}: {dates}",
                      "Renew it before that day. " + renew, **data)  # fmt: skip
    fact = f"{path} valid until {_day(end)} ({int(days)} days left)"
    if check == "tls.client_cert":
        cn = _common_name(cert)
        data["cn"] = cn
        if cn != ctx.config.kiosk_id:
            return result(check, title, Level.WARN,
                          f"{fact}; its CN is {cn!r} but kiosk.id is {ctx.config.kiosk_id!r}",
                          "The broker's ACL keys on the CN: use this lane's own certificate.",
                          **data)  # fmt: skip
    return result(check, title, Level.OK, fact, **data)


def _key_file(mqtt: dict[str, Any]) -> CheckResult:
    """The private key is only checked for being there: its content is never read out."""
    path = str(mqtt["tls_key_file"])
    title = "Client key"
    try:
        size = Path(path).stat().st_size if path else 0
    except OSError as err:
        return result(
            "tls.client_key",
            title,
            Level.FAIL,
            f"cannot read [mqtt] tls_key_file {path}: {err.strerror or err}",
            "Put this lane's private key back (it comes with its certificate).",
        )
    if not size:
        return result(
            "tls.client_key",
            title,
            Level.FAIL,
            f"[mqtt] tls_key_file {path!r} is empty or not set",
            "Set it to this lane's private key file.",
        )
    return result("tls.client_key", title, Level.OK, f"{path} is present")


def _common_name(cert: Any) -> str:
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")
