"""``sco calibrate``: the guided app (no subcommand), or the same steps one at a time.

    sco calibrate --config lane.toml --technician "Li Wei"          the guided Kivy app
    sco calibrate --autoplay --screenshots shots/                    the app plays a simulated lane
    sco calibrate scale ... / camera ...                             one device's checks
    sco calibrate weights export|import|suspicious                   learned expected weights
    sco calibrate record save|list|show|publish                      calibration records
    sco calibrate report [ID]                                        HTML (and PDF) report

Heavy modules (Kivy, OpenCV, paho) are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError

EXIT_PENDING = 3  # like `sco outbox flush`: queued, not yet acknowledged by the broker
PLUGINS = (
    ("calibration.scale_cli", "scale", "scales: zero, span, linearity, repeatability, ..."),
    ("calibration.camera_cli", "camera", "camera: sharpness, exposure, glare, px/module, zones"),
)


def _config(args: argparse.Namespace) -> Any:
    from kiosk.config import load_config

    return load_config(getattr(args, "config", None))


def _data_dir(args: argparse.Namespace, config: Any) -> Path:
    return Path(getattr(args, "data_dir", None) or config.data_dir)


def _lane_options(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a value given before the subcommand (sco calibrate --config X ...) survives.
    p.add_argument("--config", default=argparse.SUPPRESS, help="the lane's TOML config")
    p.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="the lane's data dir (default: config's)"
    )


# --- the guided app -----------------------------------------------------------------------


AUTOPLAY_TECHNICIAN = "autoplay"  # the record's technician when autoplay is given none
SCALE_DEVICES = ("bagging_scale", "scan_scale")


def parse_scale_ports(items: list[str]) -> dict[str, str] | None:
    """``--scale bagging_scale=/dev/ttyUSB0`` (repeatable) as {device: port}; None if none."""
    ports: dict[str, str] = {}
    for item in items:
        device, sep, port = item.partition("=")
        device, port = device.strip(), port.strip()
        if not sep or not port or device not in SCALE_DEVICES:
            raise KioskError(
                f"--scale {item!r}: give DEVICE=PORT with DEVICE one of "
                f"{', '.join(SCALE_DEVICES)}, e.g. --scale bagging_scale=/dev/ttyUSB0"
            )
        if device in ports:
            raise KioskError(f"--scale {device} given twice")
        ports[device] = port
    return ports or None


def cmd_app(args: argparse.Namespace) -> int:
    scale_ports = parse_scale_ports(args.app_scales)
    technician = args.technician.strip() or (AUTOPLAY_TECHNICIAN if args.autoplay else "")
    if not technician:
        raise KioskError("the guided app needs --technician NAME (it goes into the record)")
    if args.screenshots and not args.autoplay:
        raise KioskError("--screenshots goes with --autoplay (the app writes a PNG per screen)")
    zones = Path(args.app_zones) if args.app_zones else None
    if zones is not None and not zones.is_file():
        raise KioskError(f"--zones {zones}: no such file (the zones JSON, opensco.zones/1)")
    try:
        from calibration.app import run_calibration_app
    except ImportError as err:
        raise KioskError(
            f"the guided calibration app is not available in this build ({err}); "
            "use the subcommands: sco calibrate --help"
        ) from err
    config = getattr(args, "config", None)
    return int(
        run_calibration_app(
            Path(config) if config else None,
            technician=technician,
            scale_ports=scale_ports,
            camera_url=args.app_camera,
            zones_path=zones,
            autoplay=args.autoplay,
            screenshots=Path(args.screenshots) if args.screenshots else None,
        )
    )


# --- weights ------------------------------------------------------------------------------


def cmd_weights_export(args: argparse.Namespace) -> int:
    from calibration.weights import export_csv, lane_catalog, learned_table

    config = _config(args)
    table = learned_table(_data_dir(args, config))
    text = export_csv(table, lane_catalog(config))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        from kiosk.files import write_atomically

        write_atomically(Path(args.out), text)
        print(f"{args.out}: {len(table)} SKU(s) from the lane's last checkpoint")
    return 0


def cmd_weights_import(args: argparse.Namespace) -> int:
    from calibration.weights import import_table, lane_catalog, parse_csv

    config = _config(args)
    try:
        text = Path(args.csv).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise KioskError(f"cannot read {args.csv}: {err}") from err
    table = parse_csv(text, args.csv)
    known = {p.sku for p in lane_catalog(config).products}
    unknown = sorted(s for s in table if s not in known and not s.startswith("__"))
    if unknown:
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        print(f"{args.csv}: {len(unknown)} SKU(s) not in the catalog (kept): {shown}")
    if args.dry_run:
        print(f"{args.csv}: {len(table)} SKU(s) valid; nothing written (--dry-run)")
        return 0
    backup = import_table(_data_dir(args, config), table, merge=args.merge)
    how = "merged into" if args.merge else "replaced"
    print(
        f"{args.csv}: {len(table)} SKU(s) {how} the lane's table; it takes effect when the "
        f"lane starts. The previous table is in {backup}"
    )
    return 0


def cmd_weights_suspicious(args: argparse.Namespace) -> int:
    from calibration.weights import ReviewLimits, lane_catalog, learned_table, review, suspicious

    config = _config(args)
    limits = ReviewLimits(min_samples=args.min_samples, max_cv=args.max_cv)
    results = review(learned_table(_data_dir(args, config)), lane_catalog(config), limits)
    bad = suspicious(results)
    if args.json:
        print(json.dumps([r.to_json() for r in bad], ensure_ascii=False, indent=2))
    else:
        for r in bad:
            f = r.figures
            catalog = f" catalog {f['catalog_g']} g" if "catalog_g" in f else ""
            print(
                f"{f['sku']}: n={f['n']} mean {f['mean_g']} g sd {f['sd_g']} g{catalog}: {r.advice}"
            )
        print(f"{len(bad)} suspicious of {len(results)} SKU(s) with >= {args.min_samples} samples")
    return 1 if bad else 0


# --- records ------------------------------------------------------------------------------


def cmd_record_save(args: argparse.Namespace) -> int:
    from calibration.record import (
        CalibrationRecord,
        read_results,
        recommended_scale_settings,
        save_record,
        write_summary,
    )

    config = _config(args)
    data_dir = _data_dir(args, config)
    record = CalibrationRecord.start(config, args.technician)
    for path in args.results:
        record.extend(read_results(path))
    if not record.checks:
        raise KioskError("no results to record (give --results FILE from the check commands)")
    record.started_ts = min([record.started_ts, *(r.ts for r in record.results if r.ts > 0)])
    recommended = recommended_scale_settings(record.results)
    if recommended and args.apply:
        if not getattr(args, "config", None):
            raise KioskError("--apply needs --config: the file the values are written into")
        from calibration.config_edit import apply_settings

        record.applied_settings = apply_settings(args.config, recommended)
    record.finish()
    path = save_record(record, data_dir)
    write_summary(record, data_dir)
    print(f"{path}: {len(record.checks)} check(s), verdict {record.verdict.value.upper()}")
    if recommended and not args.apply:
        print(f"recommended scale settings (not applied; --apply writes them): {recommended}")
    for section, values in record.applied_settings.items():
        for key, change in values.items():
            print(f"[{section}] {key}: {change['before']} -> {change['after']} (written)")
    if args.publish:
        args.which = record.record_id
        return cmd_record_publish(args)
    return 0


def cmd_record_list(args: argparse.Namespace) -> int:
    from calibration.publish import record_sent
    from calibration.record import RecordError, list_records, load_record

    data_dir = _data_dir(args, _config(args))
    for path in list_records(data_dir):
        try:
            r = load_record(path)
        except RecordError as err:
            print(f"{path.stem}: DAMAGED ({err})")
            continue
        sent = {True: "sent", False: "queued", None: "not queued"}[
            record_sent(data_dir, r.record_id) if r.event_seq else None
        ]
        print(f"{r.record_id}  {r.verdict.value.upper():7} {r.technician}  {sent}")
    return 0


def cmd_record_show(args: argparse.Namespace) -> int:
    from calibration.record import find_record, load_record

    record = load_record(find_record(_data_dir(args, _config(args)), args.which))
    if args.json:
        print(json.dumps(record.to_json(), ensure_ascii=False, indent=2))
        return 0
    print(
        f"{record.record_id}: {record.verdict.value.upper()} by {record.technician} on "
        f"{record.store_id}/{record.kiosk_id}, OpenSCO {record.software_version}"
    )
    for entry in record.checks:
        r = entry.after
        before = f"{entry.before.verdict.value} -> " if entry.before else ""
        print(
            f"  {r.device:16} {r.check:22} {before}{r.verdict.value}"
            f"{f'  ({r.advice})' if r.advice else ''}"
        )
    return 0


def cmd_record_publish(args: argparse.Namespace) -> int:
    from calibration.publish import publish_outbox, queue_record
    from calibration.record import find_record, load_record

    config = _config(args)
    data_dir = _data_dir(args, config)
    record = load_record(find_record(data_dir, args.which))
    seq = queue_record(record, data_dir)
    mqtt = config.sections["mqtt"]
    broker = args.broker or mqtt["broker"]
    pending, error = publish_outbox(
        data_dir,
        broker,
        kiosk_id=config.kiosk_id,
        store=config.store_id,
        prefix=mqtt["prefix"],
        timeout_s=args.timeout,
    )
    if pending:
        print(
            f"{record.record_id}: queued as event seq {seq}; {pending} event(s) not yet "
            f"acknowledged by {broker}{f' ({error})' if error else ''}. They stay in the "
            "lane's outbox: the lane sends them when it runs, or run this again"
        )
        return EXIT_PENDING
    print(f"{record.record_id}: published as event seq {seq} to {broker}")
    return 0


# --- report -------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from calibration.record import find_record, load_record
    from calibration.report import pdf_converter, render_html, write_pdf
    from kiosk.files import write_atomically

    data_dir = _data_dir(args, _config(args))
    path = find_record(data_dir, args.which)
    record = load_record(path)
    out = Path(args.out) if args.out else path.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, render_html(record))
    print(f"{out}: report of {record.record_id} ({record.verdict.value.upper()})")
    if args.pdf:
        converter = pdf_converter()
        if converter is None:
            print(
                "no PDF converter installed (looked for chromium, google-chrome, "
                "wkhtmltopdf, weasyprint): print the HTML from a browser instead"
            )
            return 0
        pdf = out.with_suffix(".pdf")
        write_pdf(out, pdf, converter)
        print(f"{pdf}: PDF made with {converter}")
    return 0


# --- wiring -------------------------------------------------------------------------------


def _missing_plugin(module: str, err: Exception) -> Any:
    def run(_args: argparse.Namespace) -> int:
        raise KioskError(f"{module} is not available in this build ({err})")

    return run


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "calibrate", help="calibrate a lane: scales, camera, zones, expected weights; records"
    )
    p.add_argument("--config", help="the lane's TOML config (default: built-in defaults)")
    p.add_argument("--data-dir", help="the lane's data dir (default: the config's)")
    p.add_argument("--technician", default="", help="your name, for the record")
    # The guided app's options (dests prefixed: subcommands have their own --zones).
    p.add_argument(
        "--scale",
        dest="app_scales",
        action="append",
        default=[],
        metavar="DEVICE=PORT",
        help="a scale to check instead of the config's, e.g. bagging_scale=/dev/ttyUSB0 "
        "(repeatable)",
    )
    p.add_argument(
        "--camera", dest="app_camera", metavar="URL", help="camera URL (default: config's)"
    )
    p.add_argument("--zones", dest="app_zones", metavar="FILE", help="zones JSON to edit and check")
    p.add_argument(
        "--autoplay",
        action="store_true",
        help="play every step by itself (a simulated scale and camera unless given): a demo",
    )
    p.add_argument(
        "--screenshots",
        metavar="DIR",
        help="with --autoplay: a PNG per screen, the record and its report into DIR",
    )
    p.set_defaults(func=cmd_app)
    sub = p.add_subparsers(dest="calibrate_command", metavar="STEP")

    for module, name, help_text in PLUGINS:
        try:
            importlib.import_module(module).register(sub)
        except ImportError as err:
            missing = sub.add_parser(name, help=f"{help_text} (not available: {err})")
            missing.set_defaults(func=_missing_plugin(module, err))

    w = sub.add_parser("weights", help="the lane's learned expected weights")
    wsub = w.add_subparsers(dest="weights_action", metavar="ACTION", required=True)
    c = wsub.add_parser("export", help="write the learned table as CSV")
    c.add_argument("out", nargs="?", default="-", help="CSV file (- = stdout)")
    _lane_options(c)
    c.set_defaults(func=cmd_weights_export)
    c = wsub.add_parser("import", help="replace the learned table from a CSV (lane stopped)")
    c.add_argument("csv")
    c.add_argument("--merge", action="store_true", help="update only the SKUs in the CSV")
    c.add_argument("--dry-run", action="store_true", help="validate only")
    _lane_options(c)
    c.set_defaults(func=cmd_weights_import)
    c = wsub.add_parser("suspicious", help="SKUs whose spread or mean looks wrong (exit 1)")
    c.add_argument("--min-samples", type=int, default=5)
    c.add_argument("--max-cv", type=float, default=0.10, help="without a catalog weight")
    c.add_argument("--json", action="store_true")
    _lane_options(c)
    c.set_defaults(func=cmd_weights_suspicious)

    r = sub.add_parser("record", help="calibration records: save, list, show, publish")
    rsub = r.add_subparsers(dest="record_action", metavar="ACTION", required=True)
    c = rsub.add_parser("save", help="make a record from the check commands' --results files")
    c.add_argument("--technician", required=True, help="your name")
    c.add_argument("--results", action="append", default=[], required=True, metavar="FILE")
    c.add_argument("--apply", action="store_true", help="write recommended scale settings")
    c.add_argument("--publish", action="store_true", help="then queue and publish it")
    c.add_argument("--broker", help="broker URL (default: the config's [mqtt] broker)")
    c.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    _lane_options(c)
    c.set_defaults(func=cmd_record_save)
    c = rsub.add_parser("list", help="records of this lane, oldest first")
    _lane_options(c)
    c.set_defaults(func=cmd_record_list)
    c = rsub.add_parser("show", help="one record (default: the latest)")
    c.add_argument("which", nargs="?", default="latest", help="record id, file or latest")
    c.add_argument("--json", action="store_true")
    _lane_options(c)
    c.set_defaults(func=cmd_record_show)
    c = rsub.add_parser("publish", help="queue a record in the lane's outbox and send it")
    c.add_argument("which", nargs="?", default="latest", help="record id, file or latest")
    c.add_argument("--broker", help="broker URL (default: the config's [mqtt] broker)")
    c.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    _lane_options(c)
    c.set_defaults(func=cmd_record_publish)

    c = sub.add_parser("report", help="render a record as HTML (and PDF if a converter exists)")
    c.add_argument("which", nargs="?", default="latest", help="record id, file or latest")
    c.add_argument("--out", help="HTML file (default: beside the record)")
    c.add_argument("--pdf", action="store_true", help="also a PDF, if a converter is installed")
    _lane_options(c)
    c.set_defaults(func=cmd_report)
