"""The attendant tablet's MQTT 5 session: store topics in, ``FloorState`` out, signed commands.

One paho client on paho's own network thread (``loop_start``), which reconnects with
backoff (1 s doubling to 30 s). Clean start off with a one-hour session expiry: QoS 1 alerts
wait at the broker over a flaky Wi-Fi gap. Subscriptions are renewed after every CONNACK (a
broker restarted without persistence has forgotten the session). Every message is folded
into a ``Floor`` under one lock; listeners get the new ``FloorState`` on the MQTT thread
(the UI hops to its own thread).

Answers: a kiosk may publish only inside its own subtree, so commands name the kiosk's
``cmdresp`` as their Response Topic and the tablet picks its own answers out by command id.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from backend_client.client import BrokerUrl
from backend_client.contract import (
    TopicTree,
    check_segment,
    claim_payload,
    claim_topic,
    claims_filter,
    parse_store_topic,
    store_kiosks_filter,
)
from kiosk.attendant.floor import AlertView, Claim, Floor, FloorState
from kiosk.attendant.keyring import AttendantSigner
from kiosk.errors import BackendError

logger = logging.getLogger(__name__)

COMMAND_TTL_S = 30  # message expiry and signed lifetime: a stale approval must not run later
SESSION_EXPIRY_S = 3600
IMAGE_CACHE_COUNT = 64
IMAGE_CACHE_BYTES = 32 * 1024 * 1024
TICK_S = 1.0
LEAVES = ("status", "state", "screen", "evt/#", "snap/#", "cmdresp")

Listener = Callable[[FloorState], None]


class TabletClient:
    def __init__(
        self,
        broker: str | BrokerUrl,
        store: str,
        signer: AttendantSigner,
        *,
        prefix: str = "opensco",
        tablet_id: str = "tablet-01",
        clock: Callable[[], float] = time.time,
        on_new_alert: Callable[[AlertView], None] | None = None,
        backoff_s: tuple[int, int] = (1, 30),
    ) -> None:
        self.broker = BrokerUrl.parse(broker) if isinstance(broker, str) else broker
        self.store = check_segment("store", store)
        self.prefix = check_segment("prefix", prefix)
        self.tablet_id = check_segment("tablet id", tablet_id)
        self.signer = signer
        self.clock = clock
        self.on_new_alert = on_new_alert
        self.floor = Floor(store, signer.attendant_id, now=clock())
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._images: OrderedDict[str, bytes] = OrderedDict()
        # Kiosk id -> its newest screen state (schemas/screen.json), for the Lane screen.
        self._screens: dict[str, dict[str, Any]] = {}
        self.bad_screens = 0  # screen payloads refused by the schema
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.client = self._make_client(backoff_s)

    # --- set-up ---------------------------------------------------------------------------

    def _make_client(self, backoff_s: tuple[int, int]) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.tablet_id, protocol=mqtt.MQTTv5
        )
        client.reconnect_delay_set(*backoff_s)
        if self.broker.tls:
            try:
                client.tls_set(
                    ca_certs=self.broker.ca, certfile=self.broker.cert, keyfile=self.broker.key,
                    cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )  # fmt: skip
            except (OSError, ValueError) as err:
                raise BackendError(f"TLS set-up for {self.broker} failed: {err}") from err
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(
            self.broker.host, self.broker.port, keepalive=15, clean_start=False, properties=props
        )
        self.client.loop_start()
        self._ticker = threading.Thread(target=self._tick_loop, name="tablet-tick", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            self.floor.set_connected(False, self.clock())

    # --- the UI's side --------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def snapshot(self) -> FloorState:
        with self._lock:
            return self.floor.snapshot()

    @property
    def connected(self) -> bool:
        with self._lock:
            return self.floor.connected

    def send(self, kiosk_id: str, action: str, args: dict[str, Any] | None = None) -> str:
        """Sign and publish one command; its answer shows up in ``FloorState.commands``."""
        tree = TopicTree(self.store, kiosk_id, self.prefix)
        now = self.clock()
        command_id = str(uuid.uuid4())
        issued = int(now)
        cmd = self.signer.sign(
            {
                "command_id": command_id,
                "action": action,
                "kiosk_id": kiosk_id,
                "issued_at": issued,
                "expires_at": issued + COMMAND_TTL_S,
                "args": dict(args or {}),
            }
        )
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = tree.cmdresp
        props.CorrelationData = command_id.encode()
        props.MessageExpiryInterval = COMMAND_TTL_S
        with self._lock:
            self.floor.command_sent(command_id, kiosk_id, action, args, now)
        # Queued by paho while offline; the kiosk refuses it once expired, so it is safe.
        self.client.publish(tree.cmd(action), json.dumps(cmd), qos=1, properties=props)
        self._notify()
        return command_id

    def claim(self, kiosk_id: str, alert_id: str) -> None:
        """Tell the other tablets this attendant is on it (advisory, retained)."""
        now = self.clock()
        payload = claim_payload(
            kiosk_id, alert_id, self.signer.attendant_id, self.tablet_id, round(now, 3)
        )
        topic = claim_topic(self.prefix, self.store, kiosk_id, alert_id)
        with self._lock:
            self.floor.on_claim(kiosk_id, alert_id, json.loads(payload), now)
        self.client.publish(topic, payload, qos=1, retain=True)
        self._notify()

    def release(self, kiosk_id: str, alert_id: str) -> None:
        topic = claim_topic(self.prefix, self.store, kiosk_id, alert_id)
        with self._lock:
            self.floor.on_claim(kiosk_id, alert_id, None, self.clock())
        self.client.publish(topic, b"", qos=1, retain=True)
        self._notify()

    def image(self, snap_id: str) -> bytes | None:
        with self._lock:
            return self._images.get(snap_id)

    def lane_screen(self, kiosk_id: str) -> dict[str, Any] | None:
        """The newest screen state the lane published (remote assistance), or None."""
        with self._lock:
            return self._screens.get(kiosk_id)

    # --- paho callbacks (MQTT thread) -----------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            logger.warning("broker %s refused the tablet: %s", self.broker, rc)
            return
        topics = [(store_kiosks_filter(self.prefix, self.store, leaf), 1) for leaf in LEAVES]
        topics.append((claims_filter(self.prefix, self.store), 1))
        client.subscribe(topics)
        with self._lock:
            self.floor.set_connected(True, self.clock())
        logger.info("tablet %s connected to %s", self.tablet_id, self.broker)
        self._notify()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not self._stop.is_set():
            logger.warning("tablet lost the broker %s: %s", self.broker, rc)
        with self._lock:
            self.floor.set_connected(False, self.clock())
        self._notify()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._handle(client, msg)
        except Exception:  # one bad message must not end the network thread
            logger.exception("tablet could not handle %r", msg.topic)

    def _handle(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        parsed = parse_store_topic(msg.topic, self.prefix, self.store)
        if parsed is None:
            return
        kind, kiosk_id, rest = parsed
        now = self.clock()
        payload = bytes(msg.payload)
        if kind == "snap":
            self._keep_image(rest, payload)
            return
        if kind == "screen":
            self._keep_screen(kiosk_id, payload)
            return
        if kind not in ("status", "state", "evt", "claim", "cmdresp"):
            return
        body: Any = None
        if payload:
            try:
                body = json.loads(payload)
            except (UnicodeDecodeError, ValueError):
                body = payload  # counted as a bad payload by the floor
        republish: Claim | None = None
        with self._lock:
            floor = self.floor
            if kind == "status":
                floor.on_status(kiosk_id, body, now)
            elif kind == "state":
                if body is not None:
                    floor.on_state(kiosk_id, body, now)
            elif kind == "evt":
                floor.on_event(kiosk_id, body, now)
            elif kind == "cmdresp":
                floor.on_cmdresp(kiosk_id, body, now)
            else:
                held = floor.claim_of(kiosk_id, rest)
                floor.on_claim(kiosk_id, rest, body, now)
                after = floor.claim_of(kiosk_id, rest)
                # A later claim overwrote the retained winner on the broker: put it back.
                if held is not None and after == held and isinstance(body, dict):
                    incoming = (body.get("attendant_id"), body.get("tablet_id"), body.get("ts"))
                    if incoming != (held.attendant_id, held.tablet_id, held.ts):
                        republish = held
            new_alerts = floor.take_new_alerts()
            stale = floor.take_stale_claims()
        if republish is not None:
            topic = claim_topic(self.prefix, self.store, republish.kiosk_id, republish.alert_id)
            client.publish(topic, json.dumps(republish.to_payload()), qos=1, retain=True)
        for stale_kiosk, stale_alert in stale:
            topic = claim_topic(self.prefix, self.store, stale_kiosk, stale_alert)
            client.publish(topic, b"", qos=1, retain=True)
        if self.on_new_alert is not None:
            for alert in new_alerts:
                try:
                    self.on_new_alert(alert)
                except Exception:
                    logger.exception("new-alert hook failed")
        self._notify()

    def _keep_screen(self, kiosk_id: str, payload: bytes) -> None:
        from backend_client.schema_validation import validate

        body: Any = None
        if payload:  # an empty retained payload clears the lane's screen
            try:
                body = json.loads(payload)
            except (UnicodeDecodeError, ValueError):
                body = payload
            problems = validate("screen", body)
            if problems or body.get("kiosk_id") != kiosk_id:
                with self._lock:
                    self.bad_screens += 1
                logger.warning("screen state of %s refused: %s", kiosk_id,
                               "; ".join(problems[:3]) or "kiosk id differs")  # fmt: skip
                return
        with self._lock:
            if body is None:
                self._screens.pop(kiosk_id, None)
            else:
                self._screens[kiosk_id] = body
        self._notify()

    def _keep_image(self, snap_id: str, jpeg: bytes) -> None:
        if not jpeg.startswith(b"\xff\xd8\xff"):
            return  # only JPEGs; never stored on disk
        with self._lock:
            known = self._images.get(snap_id) == jpeg  # a QoS 1 redelivery changes nothing
            self._images[snap_id] = jpeg
            self._images.move_to_end(snap_id)
            total = sum(len(v) for v in self._images.values())
            while self._images and (
                len(self._images) > IMAGE_CACHE_COUNT or total > IMAGE_CACHE_BYTES
            ):
                _, dropped = self._images.popitem(last=False)
                total -= len(dropped)
            state = None if known else self.floor.snapshot()
        # Only an image an open alert cites can change a screen (its detail view); one
        # that comes before its alert is shown when the alert's own notify arrives.
        if state is not None and any(snap_id in a.snap_ids for a in state.alerts):
            self._notify(state)

    # --- listeners and time ---------------------------------------------------------------

    def _notify(self, state: FloorState | None = None) -> None:
        with self._lock:
            if state is None:
                state = self.floor.snapshot()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(state)
            except Exception:
                logger.exception("floor listener failed")

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                self.floor.tick(self.clock())
            self._notify()
