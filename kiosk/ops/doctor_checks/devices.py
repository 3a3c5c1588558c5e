"""Scales, receipt printer and payment terminal, through the kiosk mode's own probes."""

from __future__ import annotations

from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result
from kiosk.ui.probes import (
    LABELS,
    ProbeResult,
    Status,
    enabled,
    probe_payment,
    probe_printer,
    probe_scale,
)

# What a technician does when each device fails, after reading the measured fact.
ADVICE = {
    "scan_scale": "Check the produce scale's power and its serial/USB cable; [scan_scale] port "
    "must name the port it is on (ls /dev/ttyUSB* /dev/ttyACM*) and protocol what it speaks. "
    "Then run `sco scale probe PORT`.",
    "bagging_scale": "Check the bagging scale's power and its serial/USB cable; [bagging_scale] "
    "port must name the port it is on (ls /dev/ttyUSB* /dev/ttyACM*) and protocol what it "
    "speaks. Then run `sco scale probe PORT`.",
    "printer": "Check the printer is on, its lid closed and a paper roll loaded; check its cable "
    "and [printer] url. Then run `sco printer test`.",
    "payment": "Check the payment terminal is on and connected; [payment] port must name its "
    "port. If it still does not answer, restart the terminal and call the payment provider.",
}


def from_probe(device: str, ctx: DoctorContext) -> CheckResult:
    """A probe's verdict as a check; a device this lane does not have is skipped."""
    assert ctx.config is not None
    title = LABELS[device].capitalize()
    required = device in ctx.config.sections["kiosk_ui"]["required"]
    if not enabled(ctx.config, device):
        if required:
            return result(device, title, Level.FAIL,
                          f"[kiosk_ui] required lists {device}, but [{device}] enabled is false",
                          f"Set enabled = true in [{device}] of {ctx.config_path}, or take "
                          f"{device} out of [kiosk_ui] required.")  # fmt: skip
        return result(device, title, Level.SKIP, f"not on this lane ([{device}] enabled = false)")
    probe = _probe(device, ctx)
    level = Level.OK if probe.status is Status.OK else Level.FAIL
    if level is Level.OK and "near_end" in probe.reason:
        return result(device, title, Level.WARN, probe.reason,
                      "The paper roll is nearly used up: load a new roll soon.")  # fmt: skip
    return result(device, title, level, probe.reason, ADVICE[device], required=required,
                  seconds=round(probe.elapsed_s, 3))  # fmt: skip


def _probe(device: str, ctx: DoctorContext) -> ProbeResult:
    assert ctx.config is not None
    sections = ctx.config.sections
    try:
        if device == "printer":
            return probe_printer(sections["printer"], ctx.timeout_s)
        if device == "payment":
            return probe_payment(sections["payment"], ctx.timeout_s)
        return probe_scale(device, sections[device], ctx.timeout_s)
    except Exception as err:  # a probe bug reads as a failed check, never a crash of the doctor
        return ProbeResult(device, Status.FAILED, f"check failed: {err!r}")


def check_scales(ctx: DoctorContext) -> list[CheckResult]:
    return [from_probe("scan_scale", ctx), from_probe("bagging_scale", ctx)]


def check_printer(ctx: DoctorContext) -> list[CheckResult]:
    return [from_probe("printer", ctx)]


def check_payment(ctx: DoctorContext) -> list[CheckResult]:
    return [from_probe("payment", ctx)]
