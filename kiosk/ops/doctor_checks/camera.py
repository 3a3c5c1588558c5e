"""Camera: open the configured URL the way the lane does, wait for frames, measure their rate."""

from __future__ import annotations

from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result

TITLE = "Camera"
FRAMES = 15  # enough for a rate, few enough to stay quick
LOW_FPS = 5.0  # below this the tracker loses items between frames
ADVICE = ("Check the camera's cable and power (a USB camera: unplug and plug it back in); "
          "[camera] url must name it (ls /dev/video*, or the stream's address). "
          "Then run `sco camera probe URL`.")  # fmt: skip


def check_camera(ctx: DoctorContext) -> list[CheckResult]:
    from vision.camera_cli import probe

    assert ctx.config is not None
    section = ctx.config.sections["camera"]
    required = "camera" in ctx.config.sections["kiosk_ui"]["required"]
    if not section["enabled"]:
        if required:
            return [result("camera", TITLE, Level.FAIL,
                           "[kiosk_ui] required lists camera, but [camera] enabled is false",
                           f"Set enabled = true in [camera] of {ctx.config_path}, or take "
                           "camera out of [kiosk_ui] required.")]  # fmt: skip
        return [result("camera", TITLE, Level.SKIP, "not on this lane ([camera] enabled = false)")]
    try:
        got = probe(str(section["url"]), FRAMES, max(ctx.timeout_s, 3.0))
    except Exception as err:  # a probe bug reads as a failed check
        return [result("camera", TITLE, Level.FAIL, f"check failed: {err!r}", ADVICE)]
    url = got["url"]  # passwords in the URL already masked
    data = {k: got.get(k) for k in ("url", "frames", "width", "height", "read_fps",
                                    "source_fps", "dropped", "reconnects")}  # fmt: skip
    if not got["ok"]:
        why = got["errors"][-1] if got["errors"] else "no frame arrived"
        return [result("camera", TITLE, Level.FAIL, f"no frames from {url}: {why}", ADVICE,
                       **data)]  # fmt: skip
    fps = float(got["read_fps"] or got["source_fps"] or 0.0)
    fact = (f"{got['frames']} frames of {got['width']}x{got['height']} from {url} "
            f"at {fps:.1f} fps, {got['dropped']} dropped")  # fmt: skip
    if got["frames"] > 1 and not got["ended"] and fps < LOW_FPS:
        return [result("camera", TITLE, Level.WARN, fact,
                       f"The camera delivers under {LOW_FPS:g} frames a second: check its "
                       "light (dark scenes lengthen exposure), its cable or network, and the "
                       "machine's load.", **data)]  # fmt: skip
    return [result("camera", TITLE, Level.OK, fact, **data)]
