"""`sco doctor` and its support bundle against real things: pty scale simulators, the
payment terminal simulator, a printer on a pty, a synthetic and a missing camera, a TLS
mosquitto with make-certs.sh certificates, certificates made with `cryptography`, the
shipped models and a damaged copy, a journal made by `sco replay`, a tmpfs that is full.

Set OPENSCO_DOCTOR_SAVE=DIR to keep the healthy and broken reports as text files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware.light_tower import PtyLink
from hardware.payment import PaymentTerminalSimulator
from hardware.scale.base import get_protocol
from hardware.scale.simulator import ScaleSimulator
from kiosk.ops.doctor import run_doctor
from kiosk.ops.doctor_checks.common import Level
from kiosk.ui.pin import make_pin_hash
from tests.broker_util import Broker, deploy_conf, make_certs, start_broker
from tests.conftest import EXAMPLES, SCO

TIMEOUT_S = 3.0  # each device's own limit; tests assert on verdicts, never on durations
PAY_REF = "TXN-REF-77310042"
PAPER_QUERY = b"\x10\x04\x04"  # DLE EOT 4: the printer answers 0x12, paper present


@pytest.fixture
def pty_printer() -> Iterator[str]:
    """A receipt printer on a pty that reports paper present."""
    pty = PtyLink()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if PAPER_QUERY in pty.read(0.05):
                pty.write(b"\x12")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield pty.path
    stop.set()
    thread.join(timeout=5)
    pty.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("certs"), "store-01", ["lane-01"])


@pytest.fixture
def tls_broker(certs: Path, tmp_path: Path) -> Iterator[Broker]:
    broker = start_broker(deploy_conf(certs), tmp_path)
    yield broker
    broker.stop()


@dataclass
class Lane:
    dir: Path
    sections: dict[str, dict[str, object]] = field(default_factory=dict)

    def set(self, section: str, **values: object) -> Lane:
        self.sections.setdefault(section, {}).update(values)
        return self

    def write(self) -> Path:
        lines = []
        for name, values in self.sections.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        path = self.dir / "kiosk.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def sale_journal(data_dir: Path) -> None:
    """A real journal with a paid sale whose terminal reference is PAY_REF."""
    session = (EXAMPLES / "sessions" / "age-restricted.jsonl").read_text(encoding="utf-8")
    inputs = data_dir.parent / "sale.jsonl"
    inputs.write_text(session.replace('"T0007"', f'"{PAY_REF}"'), encoding="utf-8")
    subprocess.run([*SCO, "replay", str(inputs), "--out", os.devnull, "--data-dir",
                    str(data_dir)], check=True, capture_output=True)  # fmt: skip


@pytest.fixture
def healthy(tmp_path: Path, certs: Path, tls_broker: Broker, pty_printer: str) -> Iterator[Lane]:
    """Every device of a lane, simulated, and a config that names them all."""
    protocol = get_protocol("toledo8217")
    with (ScaleSimulator(protocol, settle_ms=0, noise_g=0) as scan,
          ScaleSimulator(protocol, settle_ms=0, noise_g=0) as bagging,
          PaymentTerminalSimulator() as terminal):  # fmt: skip
        data = tmp_path / "data"
        sale_journal(data)
        lane = Lane(tmp_path)
        lane.set("kiosk", id="lane-01", store="store-01", data_dir=str(data))
        lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
        lane.set("logging", file=str(tmp_path / "log" / "lane.log"))
        lane.set("kiosk_ui", required=["bagging_scale", "payment", "camera", "mqtt", "disk"],
                 min_free_disk_mb=10, probe_timeout_s=TIMEOUT_S)  # fmt: skip
        lane.set("camera", enabled=True, url="synthetic:?script=basket&seed=1")
        for name, sim in (("scan_scale", scan), ("bagging_scale", bagging)):
            lane.set(name, enabled=True, port=sim.port_path, protocol="toledo8217")
        lane.set("printer", enabled=True, url=f"serial:{pty_printer}?baud=19200")
        lane.set("payment", enabled=True, port=terminal.port)
        lane.set("mqtt", enabled=True, broker=f"mqtts://127.0.0.1:{tls_broker.port}",
                 tls_ca_file=str(certs / "ca.crt"), tls_cert_file=str(certs / "lane-01.crt"),
                 tls_key_file=str(certs / "lane-01.key"))  # fmt: skip
        # The sale's events reach the broker, as on a working lane: no backlog is left.
        # (`--config` alone does not pass [mqtt]'s TLS files to the flush: they go in the URL.)
        url = (f"mqtts://127.0.0.1:{tls_broker.port}?ca={certs / 'ca.crt'}"
               f"&cert={certs / 'lane-01.crt'}&key={certs / 'lane-01.key'}")  # fmt: skip
        flush = [*SCO, "outbox", "flush", "--data-dir", str(data), "--config", str(lane.write()),
                 "--broker", url]  # fmt: skip
        done = subprocess.run(flush, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        yield lane


def doctor(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCO, "doctor", "--config", str(config), "--timeout", str(TIMEOUT_S),
                           *extra], capture_output=True, text=True, timeout=120)  # fmt: skip


def levels(config: Path, **kwargs: object) -> dict[str, tuple[Level, str, str]]:
    report = run_doctor(str(config), timeout_s=TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    return {r.check: (r.level, r.fact, r.advice) for r in report.results}


def save(name: str, text: str) -> None:
    if folder := os.environ.get("OPENSCO_DOCTOR_SAVE"):
        Path(folder, name).write_text(text, encoding="utf-8")


# --- a healthy lane ----------------------------------------------------------------------


def test_a_healthy_lane_is_all_ok_and_exits_0(healthy: Lane) -> None:
    done = doctor(healthy.write(), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    bad = [r for r in report["results"] if r["level"] != "ok"]
    assert not bad, bad
    by = {r["check"]: r for r in report["results"]}
    expected = {"configuration", "catalog", "camera", "scan_scale", "bagging_scale", "printer",
                "payment", "broker", "tls.ca", "tls.client_cert", "tls.client_key",
                "model.item-detector", "model.produce-classifier", "disk", "clock", "journal",
                "journal.outbox"}  # fmt: skip
    assert expected <= set(by)
    assert by["camera"]["data"]["frames"] > 0 and "fps" in by["camera"]["fact"]
    assert "paper ok" in by["printer"]["fact"] and "CONNACK" in by["broker"]["fact"]
    assert by["journal"]["data"]["inputs"] > 0
    text = doctor(healthy.write())
    assert text.returncode == 0 and "the lane is healthy" in text.stdout
    save("doctor-healthy.txt", f"$ sco doctor --config kiosk.toml\n{text.stdout}")


# --- what breaks -------------------------------------------------------------------------


def test_a_broken_lane_says_what_is_wrong_and_what_to_do(
    healthy: Lane, tls_broker: Broker, tmp_path: Path
) -> None:
    """The closing note's broken lane: camera pulled, broker down, the client certificate
    expired, a damaged model, and (where a tmpfs can be mounted) a full disk."""
    healthy.set("camera", url=f"folder:{tmp_path / 'camera-gone'}")
    healthy.set("vision", detector_model=str(damaged_model(tmp_path)))
    now = datetime.now(UTC)
    _ca, cert, key = make_cert(tmp_path / "old", now - timedelta(days=400), now - timedelta(days=2))
    healthy.set("mqtt", tls_cert_file=str(cert), tls_key_file=str(key))
    tls_broker.stop()
    with tiny_full_disk(tmp_path / "tiny") as why_not:
        if not why_not:
            healthy.set("kiosk", data_dir=str(tmp_path / "tiny" / "opensco"))
        done = doctor(healthy.write())
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout
    assert "[FAIL] Client certificate" in out and "expired on" in out
    assert why_not or "[FAIL] Data disk" in out
    assert "[FAIL] Camera" in out and "camera-gone" in out and "sco camera probe" in out
    assert "[FAIL] Store broker" in out and "cannot connect" in out
    assert "[FAIL] Model item-detector" in out and "sha256" in out
    assert "NOT healthy" in out
    save("doctor-broken.txt", f"$ sco doctor --config kiosk.toml\n{out}")


def test_a_pulled_camera_fails_with_advice(healthy: Lane, tmp_path: Path) -> None:
    healthy.set("camera", url=f"folder:{tmp_path / 'no-such-camera'}")
    level, fact, advice = levels(healthy.write())["camera"]
    assert level is Level.FAIL and "no-such-camera" in fact and "not found" in fact
    assert "cable" in advice and "[camera] url" in advice


def damaged_model(tmp_path: Path) -> Path:
    """The shipped detector and its card, copied; one byte of the model changed."""
    folder = tmp_path / "models"
    folder.mkdir()
    for suffix in (".onnx", ".json"):
        shutil.copyfile(EXAMPLES.parent / "models" / f"item-detector{suffix}",
                        folder / f"item-detector{suffix}")  # fmt: skip
    model = folder / "item-detector.onnx"
    body = bytearray(model.read_bytes())
    body[len(body) // 2] ^= 0xFF
    model.write_bytes(bytes(body))
    return model


def test_a_model_that_differs_from_its_card_fails(tmp_path: Path) -> None:
    lane = Lane(tmp_path).set("kiosk", data_dir=str(tmp_path / "data"))
    lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
    lane.set("vision", detector_model=str(damaged_model(tmp_path)))
    found = levels(lane.write())
    level, fact, advice = found["model.item-detector"]
    assert level is Level.FAIL and "sha256" in fact and "card" in fact, fact
    assert "detector_model" in advice and "card" in advice
    assert found["model.produce-classifier"][0] is Level.OK  # the shipped one is intact


def test_a_broker_that_is_down_fails(healthy: Lane, tls_broker: Broker) -> None:
    tls_broker.stop()
    found = levels(healthy.write())
    level, fact, advice = found["broker"]
    assert level is Level.FAIL and "cannot connect" in fact and str(tls_broker.port) in fact
    assert "outbox" in advice
    assert found["tls.client_cert"][0] is Level.OK  # the files are fine: only the link is down


def make_cert(folder: Path, not_before: datetime, not_after: datetime) -> tuple[Path, Path, Path]:
    """A CA and a lane certificate signed by it, with the given dates, via `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test-ca")).issuer_name(name("test-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("lane-01")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.crt", folder / "lane-01.crt", folder / "lane-01.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


@pytest.mark.parametrize(
    ("start_days", "end_days", "level", "words"),
    [
        (-400, -3, Level.FAIL, "expired on"),
        (-300, 10, Level.WARN, "expires in"),
        (5, 400, Level.FAIL, "not valid yet"),
        (-10, 400, Level.OK, "valid until"),
    ],
)
def test_certificate_dates(tmp_path: Path, start_days: int, end_days: int, level: Level,
                           words: str) -> None:  # fmt: skip
    now = datetime.now(UTC)
    start, end = now + timedelta(days=start_days), now + timedelta(days=end_days)
    ca, cert, key = make_cert(tmp_path / "tls", start, end)
    lane = Lane(tmp_path).set("kiosk", data_dir=str(tmp_path / "data"))
    lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
    lane.set("mqtt", enabled=True, broker="mqtts://127.0.0.1:9", tls_ca_file=str(ca),
             tls_cert_file=str(cert), tls_key_file=str(key))  # fmt: skip
    found = levels(lane.write())
    got, fact, advice = found["tls.client_cert"]
    assert got is level and words in fact, fact
    assert f"{end:%Y-%m-%d}" in fact  # the date a technician needs
    if level is not Level.OK:
        assert "Renew" in advice
    assert found["tls.ca"][0] is Level.OK


def test_an_expired_certificate_exits_2_on_the_command_line(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    ca, cert, key = make_cert(tmp_path / "tls", now - timedelta(days=400), now - timedelta(days=2))
    lane = Lane(tmp_path).set("kiosk", data_dir=str(tmp_path / "data"))
    lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
    lane.set("mqtt", enabled=True, broker="mqtts://127.0.0.1:9", tls_ca_file=str(ca),
             tls_cert_file=str(cert), tls_key_file=str(key))  # fmt: skip
    done = doctor(lane.write())
    assert done.returncode == 2
    assert f"expired on {now - timedelta(days=2):%Y-%m-%d}" in done.stdout


@contextlib.contextmanager
def tiny_full_disk(mount: Path) -> Iterator[str | None]:
    """A 1 MB tmpfs at ``mount``, filled to the last block; yields why not where mounting
    is not permitted (needs root), else None."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        yield f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}"
        return
    try:
        with open(mount / "filler", "wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        yield None
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with tiny_full_disk(tmp_path / "tiny") as why_not:
        if why_not:
            pytest.skip(why_not)
        yield tmp_path / "tiny"


def test_a_full_disk_fails(tmp_path: Path, full_tmpfs: Path) -> None:
    lane = Lane(tmp_path).set("kiosk", data_dir=str(full_tmpfs / "opensco"))
    lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
    lane.set("kiosk_ui", required=["disk"], min_free_disk_mb=10)
    found = levels(lane.write())
    level, fact, advice = found["disk"]
    assert level is Level.FAIL and "0 MB free" in fact and str(full_tmpfs) in fact, fact
    assert "needs 10 MB" in fact and "never delete the journal" in advice


def test_a_corrupt_config_fails_configuration_in_its_own_words(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[kiosk]\ndata_dir = "x"\n[camera\nurl = 3\n', encoding="utf-8")
    done = doctor(broken)
    assert done.returncode == 2
    assert "[FAIL] Configuration" in done.stdout and "not valid TOML" in done.stdout
    assert "line 3" in done.stdout and "sco config check" in done.stdout
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[kiosk]\nid = "Lane 1"\n[camera]\nenabld = true\n', encoding="utf-8")
    report = json.loads(doctor(wrong, "--json").stdout)
    problems = report["results"][0]["data"]["problems"]
    assert report["exit_code"] == 2 and len(problems) == 2
    assert any('did you mean "enabled"' in p for p in problems)
    assert {r["level"] for r in report["results"][1:]} == {"skip"}


def test_a_damaged_journal_fails_and_the_backlog_is_counted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sale_journal(data)
    lane = Lane(tmp_path).set("kiosk", data_dir=str(data))
    lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
    found = levels(lane.write())
    assert found["journal"][0] is Level.OK
    assert found["journal.outbox"][0] is Level.OK and "kept locally" in found["journal.outbox"][1]
    journal = data / "journal.sqlite3"
    for extra in data.glob("journal.sqlite3-*"):
        extra.unlink()
    body = bytearray(journal.read_bytes())
    body[4096:8192] = b"\xa5" * 4096  # a page of garbage in the middle of the file
    journal.write_bytes(bytes(body))
    level, fact, advice = levels(lane.write())["journal"]
    assert level is Level.FAIL and str(journal) in fact, fact
    assert "support" in advice


def test_a_clock_before_the_software_was_installed_fails(tmp_path: Path) -> None:
    lane = Lane(tmp_path).set("kiosk", data_dir=str(tmp_path / "data"))
    lane.set("catalog", path=str(EXAMPLES / "catalog.csv"))
    level, fact, advice = levels(lane.write(), now=datetime(2001, 1, 1, tzinfo=UTC))["clock"]
    assert level is Level.FAIL and "2001-01-01" in fact and "before" in fact
    assert "timedatectl" in advice


# --- the support bundle -------------------------------------------------------------------


def bundle_text(path: Path) -> dict[str, str]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return {n: archive.read(n).decode() for n in archive.namelist()}
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in archive.getmembers() if m.isfile()}  # fmt: skip


@pytest.mark.parametrize("name", ["support.tar.gz", "support.zip"])
def test_the_bundle_holds_what_support_needs_and_no_secret(
    healthy: Lane, certs: Path, tmp_path: Path, name: str
) -> None:
    pin_hash = make_pin_hash("4711")
    healthy.set("kiosk_ui", attendant_pin_hash=pin_hash)
    log = tmp_path / "log" / "lane.log"
    log.parent.mkdir()
    log.write_text(f"INFO payment approved reference={PAY_REF}\n"
                   "INFO camera rtsp://admin:hunter2@10.0.0.5/stream opened\n"
                   f"DEBUG terminal said {PAY_REF} ok\n", encoding="utf-8")  # fmt: skip
    out = tmp_path / name
    done = doctor(healthy.write(), "--bundle", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "support bundle" in done.stdout
    files = bundle_text(out)
    everything = "\n".join(files.values())
    key_body = (certs / "lane-01.key").read_text().splitlines()[1]  # a line of the PEM body
    for secret in (pin_hash, pin_hash[:37], key_body, PAY_REF, "hunter2", "PRIVATE KEY"):
        assert secret not in everything, secret
    root = "opensco-bundle/"
    assert {f"{root}{n}" for n in ("doctor.txt", "doctor.json", "config/kiosk.toml",
            "journal/inputs.jsonl", "journal/events.jsonl", "logs/lane.log", "versions.json",
            "MANIFEST.txt")} <= set(files)  # fmt: skip
    manifest = files[root + "MANIFEST.txt"]
    assert "kiosk_ui.attendant_pin_hash" in manifest and "payment reference" in manifest
    assert "password in a URL" in manifest
    # What support needs is still there: the sale, the devices, the versions.
    events = [json.loads(line) for line in files[root + "journal/events.jsonl"].splitlines()]
    types = {e["event"]["type"] for e in events}
    assert {"payment_approved", "transaction_completed"} <= types
    assert "6901035603102" in files[root + "journal/inputs.jsonl"]  # product barcodes kept
    assert "the lane is healthy" in files[root + "doctor.txt"]
    assert "tls_key_file" in files[root + "config/kiosk.toml"]  # the path, not the key
    versions = json.loads(files[root + "versions.json"])
    assert versions["opensco"] and versions["python"] and "item-detector" in versions["models"]
    assert "camera rtsp://admin:***@10.0.0.5" in files[root + "logs/lane.log"]


def test_a_bundle_of_a_lane_whose_config_is_broken_still_masks_the_pin_hash(
    tmp_path: Path,
) -> None:
    pin_hash = make_pin_hash("4711")
    config = tmp_path / "kiosk.toml"
    # A typo elsewhere makes the whole file invalid; the PIN hash must not leak through the
    # validator's messages or the raw file.
    config.write_text(f'[kiosk_ui]\nattendant_pin_hash = "{pin_hash}x"\nfulscreen = true\n'
                      '[mqtt]\nbroker = "mqtts://user:pa55word@broker:8883"\n',
                      encoding="utf-8")  # fmt: skip
    out = tmp_path / "b.tar.gz"
    done = doctor(config, "--bundle", str(out), "--json")
    assert done.returncode == 2
    everything = "\n".join(bundle_text(out).values())
    assert pin_hash[:30] not in everything and "pa55word" not in everything
    assert "did you mean" in everything  # the config's problems are still explained
