"""Security operations: key rotation and remote lane lock on a running lane over a real
broker, certificate rotation on a real TLS mosquitto, and the exported audit trail."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from backend_client.client import KioskLink
from backend_client.commands import TrustStore
from backend_client.contract import TopicTree
from backend_client.signing import generate_keypair, load_private_key, sign_command
from kiosk.app import Lane
from kiosk.attendant import keyring
from kiosk.cli import main as sco
from kiosk.config import parse_config_text
from kiosk.core.events import Event
from kiosk.ops.audit import AUDIT_FILE, append_event, collect, to_csv
from kiosk.ops.audit_cli import parse_since
from tests.broker_util import deploy_conf, make_certs, start_broker
from tests.conftest import EXAMPLES, wait_for

LANE = "lane-07"


def lane_toml(tmp_path: Path, host: str, port: int, trust: Path) -> str:
    return f"""
[kiosk]
id = "{LANE}"
data_dir = "{tmp_path / "data"}"
[catalog]
path = "{EXAMPLES / "catalog.csv"}"
[mqtt]
enabled = true
broker = "mqtt://{host}:{port}"
trust_dir = "{trust}"
"""


def write_trust(trust: Path, *key_ids: str) -> None:
    text = "".join(f'[keys.{k}]\nrole = "backend"\n' for k in key_ids)
    tmp = trust / "trust.toml.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(trust / "trust.toml")  # a rotation writes the file atomically


class Backend:
    """The back office: sends signed commands to one lane, reads its answers."""

    def __init__(self, host: str, port: int) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="backend", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe("opensco/+/kiosk/+/cmdresp", 1)
        assert subscribed.wait(5)

    def _message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        self.answers[str(body.get("command_id"))] = body

    def send(self, action: str, trust: Path, key_id: str) -> dict[str, Any]:
        now = int(time.time())
        cmd = {
            "command_id": str(uuid.uuid4()),
            "action": action,
            "kiosk_id": LANE,
            "issuer": {"id": "hq-security", "role": "backend"},
            "issued_at": now - 1,
            "expires_at": now + 60,
            "args": {"reason": "incident"} if action == "lock_lane" else {},
        }
        signed = sign_command(cmd, load_private_key(trust / f"{key_id}.key"), key_id)
        self.client.publish(f"opensco/store-01/kiosk/{LANE}/cmd/{action}", json.dumps(signed), 1)
        assert wait_for(lambda: cmd["command_id"] in self.answers)
        return self.answers[cmd["command_id"]]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_rotated_keys_apply_without_restart_and_the_lane_locks_remotely(
    mosquitto: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = mosquitto
    trust = tmp_path / "trust"
    generate_keypair(trust, "hq-2025")
    write_trust(trust, "hq-2025")
    config_path = tmp_path / "lane.toml"
    config_path.write_text(lane_toml(tmp_path, host, port, trust), encoding="utf-8")
    events: list[Event] = []
    lane = Lane(parse_config_text(config_path.read_text()), on_events=events.extend)
    backend = Backend(host, port)
    lane.start()
    try:
        assert lane.link is not None and lane.link.wait_connected(10)
        # The incident step: the back office locks this one lane.
        assert backend.send("lock_lane", trust, "hq-2025")["accepted"]
        assert wait_for(lambda: any(e.type.value == "lane_locked" for e in events))
        # Rotation, step 1: the new key is added; both are valid during the overlap.
        generate_keypair(trust, "hq-2026")
        write_trust(trust, "hq-2025", "hq-2026")
        assert backend.send("unlock_lane", trust, "hq-2026")["accepted"]
        assert wait_for(lambda: any(e.type.value == "lane_unlocked" for e in events))
        assert backend.send("lock_lane", trust, "hq-2025")["accepted"]
        # Step 2: the old key is removed; it is refused at once, the new one still works.
        write_trust(trust, "hq-2026")
        (trust / "hq-2025.pub").unlink()
        refused = backend.send("unlock_lane", trust, "hq-2025")
        assert not refused["accepted"] and refused["code"] == "unknown_key"
        assert [e.type.value for e in events].count("lane_unlocked") == 1
        assert backend.send("unlock_lane", trust, "hq-2026")["accepted"]
    finally:
        lane.stop()
        backend.close()

    assert sco(["audit", "export", "--config", str(config_path), "--json"]) == 0
    trail = json.loads(capsys.readouterr().out)
    commands = [(e["action"], e["outcome"], e["detail"]) for e in trail if e["kind"] == "command"]
    assert [(a, o) for a, o, _ in commands] == [
        ("lock_lane", "ok"),
        ("unlock_lane", "ok"),
        ("lock_lane", "ok"),
        ("unlock_lane", "unknown_key"),
        ("unlock_lane", "ok"),
    ]
    assert "key_id=hq-2026" in commands[1][2] and "key_id=hq-2025" in commands[3][2]
    overrides = [e["action"] for e in trail if e["kind"] == "override"]
    assert overrides == ["lock_lane", "unlock_lane", "lock_lane", "unlock_lane"]
    assert all(e["actor"] == "hq-security" for e in trail)
    # CSV carries the same rows; --since past the end leaves none.
    assert sco(["audit", "export", "--config", str(config_path), "--csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == len(trail) + 1
    assert sco(["audit", "export", "--config", str(config_path), "--since", "2999-01-01"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_broken_rotation_keeps_the_keys_in_use(tmp_path: Path) -> None:
    generate_keypair(tmp_path, "hq-2025")
    write_trust(tmp_path, "hq-2025")
    store = TrustStore.load(tmp_path)
    (tmp_path / "trust.toml").write_text("[keys.hq-2026\nrole=", encoding="utf-8")
    assert store.get("hq-2025") is not None  # half-written file: old keys stay
    write_trust(tmp_path, "hq-2026")  # names a key whose .pub is not there yet
    assert store.get("hq-2025") is not None and store.get("hq-2026") is None
    generate_keypair(tmp_path, "hq-2026")
    assert store.get("hq-2026") is not None and store.get("hq-2025") is None


def test_tablet_sign_ins_and_kiosk_pin_exits_reach_the_trail(tmp_path: Path) -> None:
    data, tablet = tmp_path / "data", tmp_path / "keyring"
    keyring.enroll(tablet, "att-07", "482913", key_id="tablet-01")
    with pytest.raises(keyring.PinError):
        keyring.unlock(tablet, "att-07", "000000")
    keyring.unlock(tablet, "att-07", "482913")
    # What kiosk/ui/kiosk_exit.py writes for each PIN typed at the exit pad.
    append_event(data / AUDIT_FILE, "pin_exit", "", "leave_kiosk_mode", "refused")
    append_event(data / AUDIT_FILE, "pin_exit", "", "leave_kiosk_mode", "ok")
    trail = collect(data, [tablet])
    # Oldest first; events of one source keep their order.
    assert [e.ts_ms for e in trail] == sorted(e.ts_ms for e in trail)
    assert [(e.kind, e.actor, e.outcome) for e in trail if e.source == "tablet"] == [
        ("sign_in", "att-07", "wrong_pin"),
        ("sign_in", "att-07", "ok"),
    ]
    assert [(e.kind, e.outcome) for e in trail if e.source == "kiosk"] == [
        ("pin_exit", "refused"),
        ("pin_exit", "ok"),
    ]
    raw = (tablet / AUDIT_FILE).read_text() + (data / AUDIT_FILE).read_text()
    assert "482913" not in raw and "000000" not in raw  # never a PIN
    assert oct((tablet / AUDIT_FILE).stat().st_mode & 0o777) == "0o600"
    # A torn last line (power cut mid-write) is skipped, not fatal.
    with open(data / AUDIT_FILE, "a", encoding="utf-8") as fh:
        fh.write('{"ts_ms": 1, "kind"')
    assert len(collect(data, [tablet])) == 4


def test_csv_export_defuses_spreadsheet_formulas_and_bad_since_is_refused() -> None:
    from kiosk.ops.audit import AuditEvent

    text = to_csv([AuditEvent(1, "kiosk", "pin_exit", "=HYPERLINK(1)", "x", "ok")])
    assert "'=HYPERLINK(1)" in text
    with pytest.raises(ValueError, match="not an ISO time"):
        parse_since("yesterday")
    assert parse_since("1970-01-01T00:00:01+00:00") == 1000


def test_a_lane_reconnects_with_its_replaced_certificate(tmp_path: Path) -> None:
    old = make_certs(tmp_path / "old", "store-01", [LANE])
    new = make_certs(tmp_path / "new", "store-01", [LANE])  # another CA altogether
    lane_dir = tmp_path / "lane"
    lane_dir.mkdir()
    for name in ("ca.crt", f"{LANE}.crt", f"{LANE}.key"):
        shutil.copy(old / name, lane_dir / name)
    broker = start_broker(deploy_conf(old), tmp_path, name="tls")
    link = KioskLink(
        f"mqtts://localhost:{broker.port}?ca={lane_dir / 'ca.crt'}"
        f"&cert={lane_dir / f'{LANE}.crt'}&key={lane_dir / f'{LANE}.key'}",
        TopicTree("store-01", LANE),
        backoff_s=(0.1, 0.5),
    )
    link.start()
    try:
        assert link.wait_connected(10)
        # Rotation: the lane's new certificate and key are installed in place ...
        for name in (f"{LANE}.crt", f"{LANE}.key"):
            shutil.copy(new / name, lane_dir / f"{name}.tmp")
            (lane_dir / f"{name}.tmp").replace(lane_dir / name)
        # ... and the broker now trusts only the new CA: only the new certificate gets in.
        broker.stop()
        conf = broker.conf_path.read_text().replace(f"cafile {old}/ca.crt", f"cafile {new}/ca.crt")
        broker.conf_path.write_text(conf)
        broker.restart()
        assert wait_for(lambda: link.connected, 20), link.health.last_error
        assert link.health.connects >= 2
    finally:
        link.stop()
        broker.stop()


def test_a_certificate_for_another_lane_is_not_loaded(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "c", "store-01", [LANE, "lane-08"])
    crt, key = tmp_path / "l.crt", tmp_path / "l.key"
    shutil.copy(certs / f"{LANE}.crt", crt)
    shutil.copy(certs / f"{LANE}.key", key)
    link = KioskLink(
        f"mqtts://localhost:1?ca={certs / 'ca.crt'}&cert={crt}&key={key}",
        TopicTree("store-01", LANE),
    )
    shutil.copy(certs / "lane-08.crt", crt)
    shutil.copy(certs / "lane-08.key", key)
    link._reload_tls()  # what the link does before each reconnect
    assert "not this lane" in link.health.last_error
