"""The services and system parts later tests and the kiosk rely on, exercised for real:
an MQTT 5 round trip through mosquitto, and Chinese text rendered in a Kivy window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kiosk.fonts import find_cjk_font

RENDER_SCRIPT = r"""
import hashlib, json, os, sys
os.environ["KIVY_NO_ARGS"] = "1"
from kivy.core.window import Window  # opens the GL context
from kivy.core.text import Label as CoreLabel
out = {}
for ch in sys.argv[2:]:
    label = CoreLabel(text=ch, font_name=sys.argv[1], font_size=48)
    label.refresh()
    pixels = label.texture.pixels
    ink = sum(1 for i in range(3, len(pixels), 4) if pixels[i] > 128)
    out[ch] = {"sha": hashlib.sha256(pixels).hexdigest(), "ink": ink,
               "size": list(label.texture.size)}
print(json.dumps(out))
"""


def test_mqtt5_round_trip_through_a_real_broker(mosquitto: tuple[str, int]) -> None:
    import paho.mqtt.client as mqtt

    host, port = mosquitto
    got: list[bytes] = []
    arrived = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-sub", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, msg: (got.append(msg.payload), arrived.set())
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(host, port)
    sub.loop_start()
    sub.subscribe("opensco/test/#", qos=1)
    assert subscribed.wait(5)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-pub", protocol=mqtt.MQTTv5)
    pub.connect(host, port)
    pub.loop_start()
    info = pub.publish("opensco/test/evt", json.dumps({"seq": 1}), qos=1)
    info.wait_for_publish(5)
    assert arrived.wait(5)
    assert json.loads(got[0]) == {"seq": 1}
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()


def test_chinese_glyphs_render_in_a_kivy_window(tmp_path: Path) -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("DISPLAY is not set: Xvfb should be running (OPENSCO_REQUIRE_SERVICES=1)")
        pytest.skip("no DISPLAY")
    font = find_cjk_font()
    env = {**os.environ, "KIVY_NO_CONSOLELOG": "1", "KIVY_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", RENDER_SCRIPT, str(font), "合", "计", "A"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    glyphs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(g["ink"] > 20 for g in glyphs.values()), glyphs
    # A font without CJK draws the same "tofu" box for both characters.
    assert glyphs["合"]["sha"] != glyphs["计"]["sha"]


def test_missing_cjk_font_is_a_clear_error(tmp_path: Path) -> None:
    from kiosk.errors import ConfigError

    with pytest.raises(ConfigError, match="fonts-noto-cjk"):
        find_cjk_font((str(tmp_path / "nope.ttc"),))
