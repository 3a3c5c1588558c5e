"""Start a private mosquitto with a given configuration for a test, and stop it.

    broker = start_broker("listener {port} 127.0.0.1\nallow_anonymous true\n", tmp_path)
    ...                     # broker.host, broker.port, broker.log()
    broker.kill9()          # or broker.stop() (SIGTERM: mosquitto saves persistence)
    broker.restart()        # same config, same port

``conf_text`` is the whole ``mosquitto.conf``. Placeholders are replaced before it is
written: ``{port}`` (a free loopback port, or ``port=``), ``{dir}`` (a per-broker data
directory with a trailing slash, for ``persistence_location``) and any ``values=`` given.
Other braces are left alone. Run as root, the broker is told ``user root`` (unless the
config names a user) so that it can read pytest's private tmp dirs.

Also here: ``make_certs`` runs ``deploy/mosquitto/make-certs.sh``; ``deploy_conf`` renders
``deploy/mosquitto/mosquitto.conf`` (the production TLS template) for a test; ``Peer`` is a
small blocking MQTT 5 test client (PUBACK/SUBACK reason codes, received messages).

Everything skips when mosquitto is missing (fails when ``OPENSCO_REQUIRE_SERVICES=1``), like
the ``mosquitto`` fixture in conftest.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "mosquitto"
MAKE_CERTS = DEPLOY / "make-certs.sh"
START_TIMEOUT_S = 10.0


def mosquitto_binary() -> str:
    """Path of the mosquitto binary; skips (or fails under OPENSCO_REQUIRE_SERVICES=1)."""
    binary = os.environ.get("OPENSCO_MOSQUITTO") or shutil.which("mosquitto")
    if not binary and Path("/usr/sbin/mosquitto").exists():
        binary = "/usr/sbin/mosquitto"
    if not binary:
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is required (OPENSCO_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("mosquitto not installed")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _run_as_self(conf_text: str) -> str:
    # Run as root, mosquitto drops to the "mosquitto" user, which can neither read pytest's
    # 0700 tmp dirs (certificates: "Permission denied") nor write the persistence file there
    # (silently: research backend.md §5.4). "user root" keeps it as the test's user.
    if os.geteuid() == 0 and not re.search(r"^\s*user\s", conf_text, re.MULTILINE):
        return "user root\n" + conf_text
    return conf_text


@dataclass
class Broker:
    """One running mosquitto process and where its files are."""

    host: str
    port: int
    proc: subprocess.Popen[bytes]
    conf_path: Path
    log_path: Path
    workdir: Path
    binary: str
    _log_files: list[object] = field(default_factory=list, repr=False)

    def log(self) -> str:
        """Everything mosquitto has written to stdout/stderr so far (all runs)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Graceful stop (SIGTERM): mosquitto writes its persistence file on the way out."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)

    def kill9(self) -> None:
        """Hard stop (SIGKILL): whatever was not autosaved yet is lost."""
        if self.running:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self) -> None:
        """Start the same configuration again on the same port (after stop() or kill9())."""
        if self.running:
            raise RuntimeError("broker still running; stop() or kill9() it first")
        self.proc = _spawn(self.binary, self.conf_path, self.log_path)
        wait_listening(self, START_TIMEOUT_S)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(binary: str, conf_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [binary, "-c", str(conf_path)], stdout=log, stderr=subprocess.STDOUT
        )


def wait_listening(broker: Broker, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the broker accepts TCP connections on its port.

    A TLS listener accepts the TCP connection before any handshake, so this works for
    TLS listeners too (and does not leave a half-made MQTT session behind).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if broker.proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {broker.proc.returncode}:\n{broker.log()}")
        try:
            with socket.create_connection((broker.host, broker.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.03)
    broker.kill9()
    raise RuntimeError(
        f"mosquitto did not listen on {broker.port} in {timeout_s} s:\n{broker.log()}"
    )


def render(conf_text: str, values: Mapping[str, object]) -> str:
    """Replace ``{name}`` for each given name; leave every other brace alone."""
    for name, value in values.items():
        conf_text = conf_text.replace("{" + name + "}", str(value))
    return conf_text


def start_broker(
    conf_text: str,
    tmp_path: Path,
    *,
    name: str = "broker",
    port: int | None = None,
    host: str = "127.0.0.1",
    values: Mapping[str, object] | None = None,
) -> Broker:
    """Write ``conf_text`` (templated) under ``tmp_path/name`` and start mosquitto with it.

    Returns once the broker accepts connections. The caller stops it (``stop()``, ``kill9()``
    or ``with start_broker(...) as broker:``); a pytest fixture should do so in teardown.
    """
    binary = mosquitto_binary()
    workdir = tmp_path / name
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    port = free_port(host) if port is None else port
    text = _run_as_self(render(conf_text, {"port": port, "dir": f"{data}/", **(values or {})}))
    conf_path = workdir / "mosquitto.conf"
    conf_path.write_text(text, encoding="utf-8")
    log_path = workdir / "mosquitto.log"
    broker = Broker(
        host=host,
        port=port,
        proc=_spawn(binary, conf_path, log_path),
        conf_path=conf_path,
        log_path=log_path,
        workdir=workdir,
        binary=binary,
    )
    wait_listening(broker)
    return broker


def make_certs(
    outdir: Path,
    store: str,
    kiosks: list[str],
    *,
    tablets: list[str] | None = None,
    backend: bool = False,
) -> Path:
    """Run ``deploy/mosquitto/make-certs.sh`` into ``outdir``; returns ``outdir``.

    Files: ``ca.crt``, ``server.crt``/``server.key`` and ``<cn>.crt``/``<cn>.key`` per client
    (tablets get CN ``tablet-<name>``). Skips if openssl is missing.
    """
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    args = [str(MAKE_CERTS), str(outdir), store, *kiosks]
    if tablets:
        args += ["--tablets", *tablets]
    if backend:
        args.append("--backend")
    subprocess.run(args, check=True, capture_output=True, text=True)
    return outdir


def deploy_conf(certs: Path, acl_path: Path | None = None) -> str:
    """``deploy/mosquitto/mosquitto.conf`` with its port, certificate, ACL and data paths
    pointed at a test's files (``{port}`` and ``{dir}`` are left for ``start_broker``)."""
    text = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
    replacements = {
        "listener 8883\n": "listener {port} 127.0.0.1\n",
        "/etc/mosquitto/certs/": f"{certs}/",
        "/etc/mosquitto/acl": str(acl_path or DEPLOY / "acl"),
        "/var/lib/mosquitto/": "{dir}",
    }
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"deploy/mosquitto/mosquitto.conf no longer contains {old!r}")
        text = text.replace(old, new)
    return text


class Peer:
    """A blocking MQTT 5 client for tests: ``publish`` returns the PUBACK reason code,
    ``subscribe`` the SUBACK reason codes, and received messages queue up for ``expect``.

    ``Peer.tls(broker, certs, "lane-01")`` connects with ``certs/lane-01.crt``; the client id
    defaults to the certificate name. ``connect`` raises ``ConnectionError`` when no
    successful CONNACK arrives.
    """

    def __init__(self, client_id: str, *, clean_start: bool = True) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client_id = client_id
        self.clean_start = clean_start
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._acks: dict[int, Any] = {}
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self.connack_properties: Properties | None = None
        self._disconnected: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_ack
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)

    @classmethod
    def tls(
        cls, broker: Broker, certs: Path, cert: str | None, *, client_id: str | None = None
    ) -> Peer:
        """Connected peer using client certificate ``cert`` (None: no client certificate)."""
        peer = cls(client_id or cert or "anonymous")
        if cert is None:
            peer.client.tls_set(ca_certs=str(certs / "ca.crt"))
        else:
            peer.client.tls_set(
                ca_certs=str(certs / "ca.crt"),
                certfile=str(certs / f"{cert}.crt"),
                keyfile=str(certs / f"{cert}.key"),
            )
        return peer.connect(broker)

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, p: Any) -> None:
        with self._cond:
            self._connack = rc
            self.connack_properties = p
            self._cond.notify_all()

    def _on_disconnect(self, _c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        with self._cond:
            self._disconnected = rc
            self._cond.notify_all()

    def _on_ack(self, _c: object, _u: object, mid: int, rc: Any, _p: object) -> None:
        with self._cond:
            self._acks[mid] = rc
            self._cond.notify_all()

    def connect(self, broker: Broker, timeout_s: float = 5.0, **props: Any) -> Peer:
        """Connect (MQTT 5 properties such as ``SessionExpiryInterval=300`` as keywords)."""
        properties = None
        if props:
            properties = Properties(PacketTypes.CONNECT)
            for name, value in props.items():
                setattr(properties, name, value)
        self._connack = self._disconnected = None
        try:
            self.client.connect(
                broker.host, broker.port, clean_start=self.clean_start, properties=properties
            )
        except OSError as exc:  # ssl.SSLError is an OSError
            raise ConnectionError(f"{self.client_id}: {exc}") from exc
        self.client.loop_start()
        with self._cond:
            self._cond.wait_for(
                lambda: self._connack is not None or self._disconnected is not None, timeout_s
            )
            connack, lost = self._connack, self._disconnected
        if connack is None or connack.is_failure:
            self.close()
            raise ConnectionError(
                f"{self.client_id}: no successful CONNACK ({connack}; disconnected: {lost})"
            )
        return self

    def _wait_ack(self, mid: int, timeout_s: float) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._acks, timeout_s):
                raise TimeoutError(f"{self.client_id}: no acknowledgement for mid {mid}")
            return self._acks.pop(mid)

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        *,
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
        timeout_s: float = 5.0,
    ) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code (135 = Not authorized)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos == 0:
            return ReasonCode(PacketTypes.PUBACK, "Success")
        rc: ReasonCode = self._wait_ack(info.mid, timeout_s)
        return rc

    def subscribe(self, topic: str, qos: int = 1, timeout_s: float = 5.0) -> list[ReasonCode]:
        """Subscribe and return the SUBACK reason codes (granted QoS, or >= 128 refused)."""
        _, mid = self.client.subscribe(topic, qos=qos)
        assert mid is not None, f"{self.client_id}: subscribe to {topic!r} was not sent"
        codes: list[ReasonCode] = self._wait_ack(mid, timeout_s)
        return codes

    def expect(self, timeout_s: float = 5.0) -> mqtt.MQTTMessage:
        """The next received message; fails the test if none arrives in time."""
        try:
            return self.messages.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"{self.client_id}: no message within {timeout_s} s")

    def drain(self, within_s: float) -> list[mqtt.MQTTMessage]:
        """Everything that arrives in the next ``within_s`` seconds."""
        got: list[mqtt.MQTTMessage] = []
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
