"""The kiosk's MQTT 5 link: one paho client, owned by one network thread.

The network thread connects (TLS with the lane's own certificate), reconnects with
exponential backoff and jitter, publishes the retained birth ``status`` (the Last Will says
offline), answers commands on ``cmd/+`` and runs *pumps* (the outbox relay) between network
reads. Everything that touches paho runs on that thread: paho's ``publish`` writes to the
socket from the calling thread when paho's own loop thread is not used, so other threads hand
messages over with :meth:`KioskLink.publish_threadsafe`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from backend_client.contract import TopicTree
from kiosk import __version__
from kiosk.errors import BackendError

logger = logging.getLogger(__name__)

STATUS_SCHEMA = "opensco.status/1"
# Above the intake's own limits (a catalog_update carries a CSV): refuse before parsing.
MAX_COMMAND_BYTES = 8 * 1024 * 1024
RESPONSE_EXPIRY_S = 60

PublishHook = Callable[[int, ReasonCode], None]
Hook = Callable[[], None]
InputSink = Callable[[Any], None]
EffectSink = Callable[[str, dict[str, Any]], object]


def publish_properties() -> Properties:
    return Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho is untyped


def now_ms() -> int:
    return int(time.time() * 1000)


def _guarded(hook: Callable[..., object], *args: Any) -> None:
    """Run a hook inside a paho callback: paho re-raises, which would end the link thread."""
    try:
        hook(*args)
    except Exception:
        logger.exception("MQTT hook %r failed", hook)


@dataclass(frozen=True)
class BrokerUrl:
    """``mqtt://HOST:PORT`` or ``mqtts://HOST:PORT?ca=PATH&cert=PATH&key=PATH``."""

    host: str
    port: int
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise BackendError(f"broker URL {url!r} must look like mqtt://HOST:PORT or mqtts://…")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError as err:
            raise BackendError(f"broker URL {url!r}: bad port") from err
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"ca", "cert", "key"}
        if unknown:
            raise BackendError(f"broker URL {url!r}: unknown options {sorted(unknown)}")
        return cls(
            parts.hostname, port, parts.scheme == "mqtts",
            query.get("ca"), query.get("cert"), query.get("key"),
        )  # fmt: skip

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def cert_common_name(path: str) -> str:
    """The subject CN of a PEM certificate (the kiosk id the broker will see)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        with open(path, "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot read client certificate {path}: {err}") from err
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


@dataclass
class LinkHealth:
    connected: bool = False
    connects: int = 0
    last_error: str = ""
    last_publish_ms: int = 0
    commands_accepted: int = 0
    commands_refused: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class KioskLink:
    """The kiosk's MQTT 5 session: status, commands, and the thread the relay runs on."""

    def __init__(
        self,
        broker: BrokerUrl | str,
        topics: TopicTree,
        *,
        keepalive_s: int = 20,
        session_expiry_s: int = 300,
        max_inflight: int = 100,
        boot_id: str | None = None,
        catalog_version: int = 0,
        models: dict[str, str] | None = None,
        intake: Any = None,
        on_input: InputSink | None = None,
        on_effect: EffectSink | None = None,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        tick_s: float = 0.05,
    ) -> None:
        self.broker = BrokerUrl.parse(broker) if isinstance(broker, str) else broker
        self.topics = topics
        self.boot_id = boot_id or uuid.uuid4().hex
        self.keepalive_s = keepalive_s
        self.health = LinkHealth()
        self.intake = intake
        self.on_input = on_input
        self.on_effect = on_effect
        self._birth = {
            "online": True, "boot_id": self.boot_id, "kiosk_id": topics.kiosk_id,
            "store_id": topics.store, "software_version": __version__,
            "models": dict(models or {}),
            "catalog_version": catalog_version, "schema": STATUS_SCHEMA,
        }  # fmt: skip
        self._backoff_min, self._backoff_max = backoff_s
        self._tick_s = tick_s
        self._publish_hooks: list[PublishHook] = []
        self._connect_hooks: list[Hook] = []
        self._pumps: list[Hook] = []
        self._stop_hooks: list[Hook] = []
        self._outgoing: queue.Queue[tuple[str, bytes, int, bool]] = queue.Queue()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._graceful = True
        self._session_ok = False
        self._tls_stamp: tuple[tuple[int, int], ...] = ()  # the TLS files last loaded
        self.client = self._make_client(session_expiry_s, max_inflight)

    # --- set-up ---------------------------------------------------------------------------

    def _make_client(self, session_expiry_s: int, max_inflight: int) -> mqtt.Client:
        if self.broker.cert:
            cn = cert_common_name(self.broker.cert)
            if cn != self.topics.kiosk_id:
                raise BackendError(
                    f"client certificate {self.broker.cert} is for {cn!r} but this lane is "
                    f"{self.topics.kiosk_id!r}: the broker's ACL would confine it to another "
                    "lane's topics. Install this lane's own certificate or fix kiosk.id"
                )
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.topics.kiosk_id, protocol=mqtt.MQTTv5
        )
        client.max_inflight_messages_set(max_inflight)
        client.will_set(self.topics.status, self._status_json("lost"), qos=1, retain=True)
        if self.broker.tls:
            try:
                client.tls_set(
                    ca_certs=self.broker.ca, certfile=self.broker.cert, keyfile=self.broker.key,
                    cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )  # fmt: skip
            except (OSError, ValueError) as err:
                raise BackendError(f"TLS set-up for {self.broker} failed: {err}") from err
            self._tls_stamp = self._tls_files_stamp()
        self._connect_props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # Clean start off + session expiry: QoS 1 commands wait at the broker over short gaps.
        self._connect_props.SessionExpiryInterval = session_expiry_s
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _status_json(self, reason: str) -> bytes:
        body: dict[str, Any] = {
            key: self._birth[key] for key in ("kiosk_id", "store_id", "boot_id", "schema")
        }
        body.update(online=False, reason=reason)
        if reason != "lost":  # the Will is written at connect time: a ts there would lie
            body["ts"] = time.time()
        return json.dumps(body, sort_keys=True).encode()

    def add_publish_hook(self, hook: PublishHook) -> None:
        self._publish_hooks.append(hook)

    def add_connect_hook(self, hook: Hook) -> None:
        self._connect_hooks.append(hook)

    def add_pump(self, pump: Hook) -> None:
        """``pump`` runs on the network thread after every network read (at least per tick)."""
        self._pumps.append(pump)

    def add_stop_hook(self, hook: Hook) -> None:
        """``hook`` runs on the network thread as it ends (close thread-bound resources)."""
        self._stop_hooks.append(hook)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    # --- the network thread ---------------------------------------------------------------

    def start(self) -> None:
        self.client.connect_async(
            self.broker.host, self.broker.port, self.keepalive_s,
            clean_start=False, properties=self._connect_props,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="opensco-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0, *, graceful: bool = True) -> None:
        """Stop the thread; ``graceful`` publishes ``offline`` first (no Will is sent then)."""
        self._graceful = graceful
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = self._backoff_min
        while not self._stopping.is_set():
            self._session_ok = False
            if self._connect():
                while not self._stopping.is_set():
                    try:
                        if self.client.loop(timeout=self._tick_s) != mqtt.MQTT_ERR_SUCCESS:
                            break
                    except Exception as err:  # paho re-raises callback errors: reconnect
                        logger.exception("MQTT network loop failed")
                        self._error(f"network loop failed: {type(err).__name__}")
                        break
                    self._run_pumps()
                if self._stopping.is_set():
                    break
                if self._session_ok:
                    delay = self._backoff_min  # it was a working session: start over
            self._connected.clear()
            self.health.connected = False
            # Jitter spreads a store's lanes out when the broker comes back.
            self._stopping.wait(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self._backoff_max)
        self._shutdown()

    def _tls_files_stamp(self) -> tuple[tuple[int, int], ...]:
        out = []
        for path in (self.broker.ca, self.broker.cert, self.broker.key):
            try:
                st = os.stat(path) if path else None
            except OSError:
                st = None
            out.append((st.st_mtime_ns, st.st_size) if st else (0, 0))
        return tuple(out)

    def _reload_tls(self) -> None:
        """Certificate rotation: cert, key and CA files replaced on disk are loaded before
        the next (re)connect, no restart. A half-written pair or a certificate for another
        lane is refused (logged) and the files in use stay, to be tried again next time."""
        ctx = getattr(self.client, "_ssl_context", None)
        if not self.broker.tls or ctx is None:
            return
        stamp = self._tls_files_stamp()
        if stamp == self._tls_stamp:
            return
        try:
            if self.broker.cert:
                cn = cert_common_name(self.broker.cert)
                if cn != self.topics.kiosk_id:
                    raise BackendError(f"new certificate is for {cn!r}, not this lane")
                ctx.load_cert_chain(self.broker.cert, self.broker.key)
            if self.broker.ca:
                ctx.load_verify_locations(self.broker.ca)
        except (OSError, ValueError, BackendError) as err:  # ssl.SSLError is an OSError
            self._error(f"new TLS files not used yet: {err}")
            return
        self._tls_stamp = stamp
        logger.warning("TLS certificate files reloaded for %s", self.broker)

    def _connect(self) -> bool:
        self._reload_tls()
        try:
            self.client.reconnect()
            return True
        except (OSError, ValueError, mqtt.WebsocketConnectionError) as err:
            self._error(f"cannot connect to {self.broker}: {err}")
            return False

    def _shutdown(self) -> None:
        if self.connected and self._graceful:
            info = self.client.publish(
                self.topics.status, self._status_json("shutdown"), qos=1, retain=True
            )
            deadline = time.monotonic() + 2
            while not info.is_published() and time.monotonic() < deadline:
                if self.client.loop(timeout=self._tick_s) != mqtt.MQTT_ERR_SUCCESS:
                    break
            self.client.disconnect()
            self.client.loop(timeout=self._tick_s)
        elif self.connected:
            self.client.socket().close()  # type: ignore[union-attr]  # test hook: Will fires
        self._connected.clear()
        self.health.connected = False
        for hook in self._stop_hooks:
            try:
                hook()
            except Exception:
                logger.exception("MQTT stop hook %s failed", hook)

    def _run_pumps(self) -> None:
        while True:
            try:
                topic, payload, qos, retain = self._outgoing.get_nowait()
            except queue.Empty:
                break
            self.client.publish(topic, payload, qos=qos, retain=retain)
        for pump in self._pumps:
            try:
                pump()
            except Exception:  # a pump bug must not kill the link; it is logged loudly
                logger.exception("MQTT pump %s failed", pump)

    def _error(self, text: str) -> None:
        if text != self.health.last_error:
            logger.warning("%s", text)
        self.health.last_error = text

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _ud: Any, _flags: Any, rc: ReasonCode, _props: Any
    ) -> None:
        if rc.is_failure:
            self._error(f"broker {self.broker} refused the connection: {rc}")
            return
        self.health.connects += 1
        self._session_ok = True
        self.health.connected = True
        self.health.last_error = ""
        client.subscribe(self.topics.cmd(), qos=1)
        birth = {**self._birth, "ts": time.time()}
        client.publish(self.topics.status, json.dumps(birth, sort_keys=True), 1, True)
        self._connected.set()
        logger.info("connected to %s as %s", self.broker, self.topics.kiosk_id)
        for hook in self._connect_hooks:
            _guarded(hook)

    def _on_disconnect(
        self, _c: mqtt.Client, _ud: Any, _flags: Any, rc: ReasonCode, _props: Any
    ) -> None:
        # The reason first: whoever sees "disconnected" must also see why.
        if not self._stopping.is_set():
            self._error(f"lost the connection to {self.broker}: {rc}")
        self._connected.clear()
        self.health.connected = False

    def _on_publish(self, _c: mqtt.Client, _ud: Any, mid: int, rc: ReasonCode, _props: Any) -> None:
        if not rc.is_failure:
            self.health.last_publish_ms = now_ms()
        for hook in self._publish_hooks:
            _guarded(hook, mid, rc)

    def _on_message(self, client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        # Anyone with write access to cmd/ can send anything: never let it escape.
        try:
            self._handle_command(client, msg)
        except Exception:
            logger.exception("command on %r could not be handled", msg.topic)
            try:  # the sender still gets an answer, so it does not retry blindly
                failed = self._refusal("failed", "the kiosk could not handle it", now_ms())
                self._respond(client, msg, failed)
            except Exception:
                logger.exception("cannot answer the command on %r", msg.topic)

    # --- commands -------------------------------------------------------------------------

    def _handle_command(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        action = msg.topic.rsplit("/", 1)[-1]
        ts = now_ms()
        response: dict[str, Any]
        if len(msg.payload) > MAX_COMMAND_BYTES:
            response = self._refusal("too_large", f"command is {len(msg.payload)} bytes", ts)
        elif self.intake is None:
            response = self._refusal("unauthorized", "this lane trusts no keys (trust_dir)", ts)
        else:
            response = self._decide(action, bytes(msg.payload), ts)
        self.health.extra["last_command"] = {"action": action[:64], "code": response.get("code")}
        if response.get("accepted"):
            self.health.commands_accepted += 1
        else:
            self.health.commands_refused += 1
        self._respond(client, msg, response)

    def _decide(self, action: str, payload: bytes, ts: int) -> dict[str, Any]:
        # Imported late: the command intake is optional (no trust_dir, no commands).
        response_payload = importlib.import_module("backend_client.commands").response_payload
        decision = self.intake.handle(action, payload, ts)  # checks size, JSON, signature
        if decision.accepted:
            for item in decision.inputs:
                if self.on_input is not None:
                    self.on_input(item)
            if decision.effect and self.on_effect is not None:
                self.on_effect(decision.effect, dict(decision.args))
        return dict(response_payload(decision, ts))

    def _respond(self, client: mqtt.Client, msg: mqtt.MQTTMessage, body: dict[str, Any]) -> None:
        props = publish_properties()
        props.MessageExpiryInterval = RESPONSE_EXPIRY_S
        topic = self.topics.cmdresp
        in_props = getattr(msg, "properties", None)
        if in_props is not None:
            # The ACL confines the lane to its own subtree, so a foreign topic is refused there.
            topic = getattr(in_props, "ResponseTopic", None) or topic
            corr = getattr(in_props, "CorrelationData", None)
            if corr is not None:
                props.CorrelationData = corr
        payload = json.dumps(body, sort_keys=True, default=str).encode()
        client.publish(topic, payload, qos=1, properties=props)

    # --- for other threads ----------------------------------------------------------------

    def publish_threadsafe(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> None:
        self._outgoing.put((topic, payload, qos, retain))

    def _refusal(self, code: str, message: str, ts_ms: int) -> dict[str, Any]:
        """An answer for a command that never reached the intake (cmdresp schema)."""
        return {
            "schema": "opensco.cmdresp/1", "command_id": None, "action": None,
            "kiosk_id": self.topics.kiosk_id, "accepted": False, "code": code,
            "message": message, "effect": None, "ts": ts_ms / 1000,
        }  # fmt: skip
