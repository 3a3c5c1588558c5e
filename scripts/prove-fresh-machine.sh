#!/usr/bin/env bash
# Prove that `./run.sh test` and `./run.sh demo` work on a fresh Debian 12 machine
# that has nothing but Debian's python3 (3.11).  See docs/setup.md.
#
# usage (as root, on a Debian/Ubuntu host with debootstrap):
#   scripts/prove-fresh-machine.sh [--reset] [--worktree] CHROOT_DIR
#
#   CHROOT_DIR   where the bookworm root lives, OUTSIDE the repo
#                (e.g. /work/chroot-bookworm).  Created with debootstrap if missing.
#   --reset      delete CHROOT_DIR and bootstrap it again (a truly fresh machine:
#                the first run then includes the apt-get step)
#   --worktree   copy the current working tree (tracked + untracked, not ignored)
#                instead of cloning the committed HEAD
#
# It clones the repo to CHROOT_DIR/root/opensco (replacing any earlier copy), runs
# `./run.sh test` twice and `./run.sh demo` twice inside the chroot with a clean
# environment, runs an environment smoke test (OpenCV, pyzbar/libzbar, onnxruntime,
# Kivy window under Xvfb with CJK text, MQTT round trips) through `./run.sh test`,
# prints the timings and unmounts everything again.  Safe to re-run.
#
# Environment:
#   MIRROR=http://deb.debian.org/debian   Debian mirror for debootstrap
#   HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
#       CA bundle the chroot should trust (installed as a local CA, so it survives
#       update-ca-certificates).  Needed on networks that intercept TLS; harmless
#       elsewhere.  Set to "" to give the chroot only Debian's stock CAs.
#   DEMO_ARGS="..."   extra arguments for `./run.sh demo` (default: none)
#   TEST_ARGS="..."   arguments for `./run.sh test` (default: none, the whole suite)
#   RUNS=1            run test and demo once each instead of twice (a quicker check)
set -euo pipefail

RESET=0
WORKTREE=0
while (($#)); do
    case "$1" in
        --reset) RESET=1; shift ;;
        --worktree) WORKTREE=1; shift ;;
        -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
(($# == 1)) || { sed -n '5,6p' "$0" >&2; exit 2; }
((EUID == 0)) || { echo "must run as root (debootstrap, chroot, mount)" >&2; exit 1; }

REPO="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
C="$(readlink -m "$1")"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
case "$C/" in "$REPO"/*) echo "CHROOT_DIR must be outside the repo" >&2; exit 2 ;; esac
[[ "$C" == / ]] && { echo "refusing to use / as CHROOT_DIR" >&2; exit 2; }

say() { printf '\n=== %s\n' "$*"; }

MOUNTS=(proc sys dev dev/pts dev/shm)
umount_all() {
    local m pid root
    # Stop anything still running inside the chroot (only our own children can be there).
    for pid in /proc/[0-9]*; do
        root="$(readlink "$pid/root" 2>/dev/null || true)"
        [[ "$root" == "$C" ]] && kill "${pid#/proc/}" 2>/dev/null || true
    done
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        m="$C/${MOUNTS[i]}"
        if mountpoint -q "$m"; then
            umount "$m" 2>/dev/null || umount -l "$m"
        fi
    done
}
mount_all() {
    mountpoint -q "$C/proc" || mount -t proc proc "$C/proc"
    mountpoint -q "$C/sys" || mount -t sysfs sysfs "$C/sys"
    if ! mountpoint -q "$C/dev"; then
        mount --bind /dev "$C/dev"
        mount --make-private "$C/dev"    # mounts below must not propagate to the host's /dev
    fi
    mountpoint -q "$C/dev/pts" || mount --bind /dev/pts "$C/dev/pts"
    mountpoint -q "$C/dev/shm" || mount -t tmpfs -o mode=1777,size=512m shm "$C/dev/shm"
}
trap umount_all EXIT

in_chroot() {    # clean environment, like a fresh login
    env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$C" bash -lc "$1"
}

# ------------------------------------------------------------ the machine ----
if ((RESET)) && [[ -d "$C" ]]; then
    umount_all
    say "removing $C"
    rm -rf --one-file-system "$C"
fi
if [[ ! -x "$C/usr/bin/python3" ]]; then
    say "bootstrapping Debian bookworm (minbase) into $C"
    t0=$(date +%s)
    debootstrap --variant=minbase bookworm "$C" "$MIRROR" >/tmp/prove-debootstrap.log 2>&1 \
        || { tail -20 /tmp/prove-debootstrap.log; exit 1; }
    cat >"$C/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
    cp /etc/resolv.conf "$C/etc/resolv.conf"
    in_chroot 'export DEBIAN_FRONTEND=noninteractive
               apt-get -q update >/dev/null &&
               apt-get -q -y install --no-install-recommends python3 >/dev/null' \
        || { echo "installing python3 in the chroot failed" >&2; exit 1; }
    echo "bootstrapped in $(($(date +%s) - t0)) s: $(in_chroot 'python3 -V')"
fi

# Plumbing every machine has but a bare chroot lacks.
cp /etc/resolv.conf "$C/etc/resolv.conf"
# Like Docker images: no daemons started by package postinst scripts inside the chroot
# (mosquitto's init script would otherwise keep running and pin the mounts).
printf '#!/bin/sh\nexit 101\n' >"$C/usr/sbin/policy-rc.d"
chmod +x "$C/usr/sbin/policy-rc.d"
if [[ -n "$HOST_CA_BUNDLE" && -f "$HOST_CA_BUNDLE" ]]; then
    mkdir -p "$C/usr/local/share/ca-certificates" "$C/etc/ssl/certs"
    cp "$HOST_CA_BUNDLE" "$C/usr/local/share/ca-certificates/host-ca-bundle.crt"
    # Before the ca-certificates package is installed, this is the bundle pip finds.
    [[ -e "$C/usr/sbin/update-ca-certificates" ]] \
        || cp "$HOST_CA_BUNDLE" "$C/etc/ssl/certs/ca-certificates.crt"
fi
mount_all

# ------------------------------------------------------------ the project ----
say "copying the project to $C/root/opensco"
rm -rf "$C/root/opensco"
if ((WORKTREE)); then
    mkdir -p "$C/root/opensco"
    (cd "$REPO" && git ls-files -co --exclude-standard -z \
        | tar --null -T - -cf - 2>/dev/null) | tar -C "$C/root/opensco" -xf -
    echo "working tree of $REPO (uncommitted changes included)"
else
    git clone -q "$REPO" "$C/root/opensco"
    echo "clone of $(git -C "$REPO" rev-parse --short HEAD) ($(git -C "$REPO" log -1 --format=%s))"
fi

# Environment smoke test, run through ./run.sh test so it sees Xvfb and the brokers.
mkdir -p "$C/root/opensco-smoke"
cat >"$C/root/opensco-smoke/test_env_smoke.py" <<'PYEOF'
"""Checks that the system libraries the kiosk needs are really usable."""
import os
import re
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np


def ean13_image(digits: str) -> np.ndarray:
    L = ["0001101", "0011001", "0010011", "0111101", "0100011",
         "0110001", "0101111", "0111011", "0110111", "0001011"]
    G = ["".join("1" if c == "0" else "0" for c in p)[::-1] for p in L]
    R = ["".join("1" if c == "0" else "0" for c in p) for p in L]
    parity = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
              "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"][int(digits[0])]
    bits = "101"
    for i, d in enumerate(digits[1:7]):
        bits += (L if parity[i] == "L" else G)[int(d)]
    bits += "01010"
    for d in digits[7:]:
        bits += R[int(d)]
    bits += "101"
    row = np.array([0 if b == "1" else 255 for b in bits], np.uint8).repeat(3)
    img = np.full((120, len(row) + 60), 255, np.uint8)
    img[10:110, 30:30 + len(row)] = row
    return img


def test_opencv_headless():
    import cv2
    img = ean13_image("4006381333931")
    ok, buf = cv2.imencode(".png", img)
    assert ok and cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).shape == img.shape


def test_pyzbar_decodes_ean13():
    from pyzbar import pyzbar
    found = pyzbar.decode(ean13_image("4006381333931"))
    assert [(f.type, f.data) for f in found] == [("EAN13", b"4006381333931")]


def test_onnxruntime_cpu():
    import onnxruntime
    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()


def test_kivy_window_under_xvfb_with_cjk_font(tmp_path):
    assert os.environ.get("DISPLAY"), "run.sh should have started Xvfb"
    code = textwrap.dedent(r'''
        import glob, sys
        from kivy.app import App
        from kivy.clock import Clock
        from kivy.core.window import Window
        from kivy.core.text import Label as CoreLabel
        from kivy.uix.textinput import TextInput
        cjk = (glob.glob("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc") or [None])[0]
        assert cjk, "fonts-noto-cjk not installed"
        def pixels(font):
            lbl = CoreLabel(text="牛奶 牛乳 우유", font_name=font, font_size=32)
            lbl.refresh()
            return bytes(lbl.texture.pixels)
        class A(App):
            def build(self):
                return TextInput(text="hello")
            def on_start(self):
                def done(dt):
                    from kivy.core.clipboard import Clipboard
                    Clipboard.copy("ok")
                    assert pixels(cjk) != pixels("Roboto"), "CJK font renders like tofu"
                    Window.screenshot(name=sys.argv[1])
                    print("WINDOW", Window.__class__.__name__, Window.size,
                          "CLIPBOARD", Clipboard.__class__.__name__, Clipboard.paste())
                    self.stop()
                Clock.schedule_once(done, 0.5)
        A().run()
    ''')
    script = tmp_path / "kivy_smoke.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "shot.png")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "KIVY_LOG_MODE": "PYTHON"})
    log = out.stdout + out.stderr
    assert out.returncode == 0, log
    assert "WINDOW WindowSDL" in log, log
    m = re.search(r"CLIPBOARD (\w+) (\S*)", log)
    assert m and m.group(2) == "ok", log
    shots = list(tmp_path.glob("shot*.png"))
    assert shots and shots[0].stat().st_size > 0, log


def _roundtrip(host: str, port: int) -> None:
    import paho.mqtt.client as mqtt
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda _c, _u, m: got.append(m.payload)
    c.connect(host, port)
    c.subscribe("smoke/t", qos=1)
    c.loop_start()
    time.sleep(0.2)
    c.publish("smoke/t", b"hi", qos=1)
    for _ in range(50):
        if got:
            break
        time.sleep(0.1)
    c.loop_stop()
    c.disconnect()
    assert got == [b"hi"]


def test_shared_test_broker():
    host, port = os.environ["OPENSCO_TEST_BROKER"].rsplit(":", 1)
    _roundtrip(host, int(port))


def test_private_broker_from_opensco_mosquitto(tmp_path):
    exe = os.environ["OPENSCO_MOSQUITTO"]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    p = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        _roundtrip("127.0.0.1", port)
    finally:
        p.terminate()
        p.wait(10)
PYEOF

# ------------------------------------------------------------ the proof ----
declare -A T RC
run_timed() {    # name, shell command inside the chroot
    local t0 t1
    say "$1: $2"
    t0=$(date +%s.%N)
    RC[$1]=0
    in_chroot "cd /root/opensco && $2" || RC[$1]=$?
    t1=$(date +%s.%N)
    T[$1]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    echo "--- $1: exit ${RC[$1]}, ${T[$1]} s"
}

RUNS="${RUNS:-2}"
STEPS=("test#1")
run_timed "test#1" "./run.sh test ${TEST_ARGS:-}"
((RUNS > 1)) && { STEPS+=("test#2"); run_timed "test#2" "./run.sh test ${TEST_ARGS:-}"; }
STEPS+=("demo#1")
run_timed "demo#1" "./run.sh demo ${DEMO_ARGS:-}"
((RUNS > 1)) && { STEPS+=("demo#2"); run_timed "demo#2" "./run.sh demo ${DEMO_ARGS:-}"; }
STEPS+=("smoke")
run_timed "smoke" "./run.sh test -p no:cacheprovider /root/opensco-smoke/test_env_smoke.py"

leftover=$(for pid in /proc/[0-9]*; do
    [[ "$(readlink "$pid/root" 2>/dev/null)" == "$C" ]] && cat "$pid/comm"; done || true)

say "summary ($C, $(in_chroot 'python3 -V'))"
for k in "${STEPS[@]}"; do
    printf '  %-8s exit %-3s %8s s\n' "$k" "${RC[$k]}" "${T[$k]}"
done
if [[ -n "$leftover" ]]; then
    echo "  WARNING: processes left running in the chroot: $leftover"
else
    echo "  no processes left running in the chroot (Xvfb/mosquitto cleaned up)"
fi
status=0
for k in "${!RC[@]}"; do ((RC[$k] == 0)) || status=1; done
exit "$status"
