"""Shared fixtures: paths, the example catalog, and a real mosquitto broker on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from kiosk.core.catalog import Catalog
from kiosk.replay import load_catalog_file

# Hypothesis' per-example deadline is a timed assertion; machines here are noisy.
hypothesis_settings.register_profile("opensco", deadline=None, print_blob=True)
hypothesis_settings.load_profile("opensco")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SESSIONS = EXAMPLES / "sessions"
SCO = [str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "sco")]


def wait_for(predicate: Callable[[], object], timeout_s: float = 10.0) -> bool:
    """Poll until ``predicate()`` is true; threads and brokers get time, never a deadline
    that a test asserts on."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def _require_services() -> bool:
    # CI sets this so a missing broker or display fails loudly instead of skipping.
    return os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def example_catalog() -> Catalog:
    return load_catalog_file(EXAMPLES / "catalog.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A private mosquitto on a free loopback port for this test session."""
    binary = os.environ.get("OPENSCO_MOSQUITTO") or shutil.which("mosquitto")
    if not binary and Path("/usr/sbin/mosquitto").exists():
        binary = "/usr/sbin/mosquitto"
    if not binary:
        if _require_services():
            pytest.fail("mosquitto is required (OPENSCO_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("mosquitto not installed")
    port = _free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"mosquitto exited: {err}")
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("mosquitto did not start listening within 10 s")
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(timeout=5)


# --- MQTT link, outbox relay and receiver helpers (test_mqtt_*, test_outbox_relay) ---------

PLAIN_BROKER = "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Any]:
    """Start private brokers (``broker_factory(conf_text)``) that a test may kill -9."""
    from tests.broker_util import Broker, start_broker

    started: list[Broker] = []

    def start(conf_text: str = PLAIN_BROKER, **kwargs: Any) -> Broker:
        broker = start_broker(conf_text, tmp_path, name=f"broker{len(started)}", **kwargs)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.kill9()


def fill_outbox(data_dir: Path, count: int, *, first_seq: int = 1) -> list[str]:
    """Journal ``count`` device_status events straight into the outbox; returns event ids."""
    from kiosk.core.events import Event, EventType, make_event_id
    from kiosk.core.inputs import Tick
    from kiosk.engine import JOURNAL_FILE
    from kiosk.journal import Journal

    journal = Journal(data_dir / JOURNAL_FILE, new_journal_id="fill")
    ids: list[str] = []
    try:
        batch = 500
        for start in range(first_seq, first_seq + count, batch):
            seqs = range(start, min(start + batch, first_seq + count))
            events = [
                Event(EventType.DEVICE_STATUS, 1_700_000_000_000 + s, s,
                      make_event_id("lane-01", "fill", s), None,
                      {"device": "scale.scan", "status": "ok", "n": s})
                for s in seqs
            ]  # fmt: skip
            ids += [e.event_id for e in events]
            journal.record(Tick(ts_ms=1_700_000_000_000 + start), _returning(events), lambda: None)
    finally:
        journal.close()
    return ids


def _returning(events: list[Any]) -> Any:
    return lambda _item: events


class Collector:
    """A paho MQTT 5 subscriber that keeps every message it receives, by topic filter."""

    def __init__(self, host: str, port: int, topic: str, *, client_id: str = "") -> None:
        import threading

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[Any] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, 20)
        self.client.loop_start()
        assert self.ready.wait(10), "subscriber never got its SUBACK"

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append(msg)

    def payloads(self) -> list[dict[str, Any]]:
        import json

        with self.lock:
            return [json.loads(m.payload) for m in self.messages]

    def wait_for(self, predicate: Any, timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return bool(predicate(self))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class CutProxy:
    """A loopback TCP proxy whose connections a test can cut (RST-free close) at will."""

    def __init__(self, target: tuple[str, int]) -> None:
        import threading

        self.target = target
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = int(self.server.getsockname()[1])
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every open connection mid-stream; new connections still work."""
        with self.lock:
            conns, self.conns = self.conns, []
            self.cuts += 1
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self.server.close()
        self.cut()


def make_trust(directory: Path, key_id: str = "backend-1", role: str = "backend") -> Path:
    """A trust_dir with one Ed25519 key (``<key_id>.pub`` listed in trust.toml); returns
    the private key's path."""
    from backend_client.signing import generate_keypair

    directory.mkdir(parents=True, exist_ok=True)
    private, _public = generate_keypair(directory, key_id)
    (directory / "trust.toml").write_text(f'[keys.{key_id}]\nrole = "{role}"\n', encoding="utf-8")
    return Path(private)


def signed_command(
    private: Path,
    key_id: str,
    action: str,
    kiosk_id: str,
    args: dict[str, Any],
    *,
    role: str = "backend",
    issuer: str = "backend-test",
) -> bytes:
    """A signed command body as a backend or tablet would publish it."""
    import json
    import uuid

    from backend_client.signing import load_private_key, sign_command

    now = int(time.time())
    cmd = {
        "command_id": str(uuid.uuid4()),
        "action": action,
        "kiosk_id": kiosk_id,
        "issuer": {"id": issuer, "role": role},
        "issued_at": now,
        "expires_at": now + 60,
        "args": args,
    }
    return json.dumps(sign_command(cmd, load_private_key(private), key_id)).encode()


def _load_triton_before_any_window() -> None:
    """torch._dynamo imports triton, whose bundled LLVM segfaults on load once Mesa's
    llvmpipe (software GL, libLLVM) has made a Kivy window in the process; loaded first,
    both work. Every worker process loads it here, before any test opens a window."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return  # the kiosk-only install (no `train` extra): nothing to order
    import torch._dynamo  # noqa: F401


_load_triton_before_any_window()


# Test modules that import torch in this process. torch._dynamo imports triton, whose
# bundled LLVM segfaults on load once Mesa's llvmpipe (software GL, libLLVM) has made a
# Kivy window in the same process; loaded in the other order both work. So these run
# first; the sort is stable, so every other test keeps its order.
TORCH_FIRST = frozenset(
    {"test_models_train.py", "test_models_classify.py", "test_vision_detector.py"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in TORCH_FIRST)
