#!/usr/bin/env bash
# OpenSCO entry point.  See docs/setup.md.
#
#   ./run.sh demo [ARGS...]   set up, then run `sco demo ARGS...` (no display: Xvfb and
#                             `sco demo --autoplay --screenshots var/demo/screens`)
#   ./run.sh test [ARGS...]   set up, then run the test suite (ARGS go to pytest)
#
# Set-up is shared by both commands and idempotent: missing Debian packages are
# installed with apt-get, .venv/ is created with the system python3, and
# `pip install -e '.[dev]'` (the tests add the `train` extra) runs only when
# pyproject.toml changed since the last
# successful install.  A re-run with nothing changed prints nothing and takes
# well under a second.
#
# Environment knobs (all optional):
#   PYTHON=/path/to/python3     interpreter used to create .venv (default: python3)
#   OPENSCO_SKIP_APT=1          never call apt-get (packages managed elsewhere)
#   PIP_CERT / REQUESTS_CA_BUNDLE / SSL_CERT_FILE
#                               honoured for pip's TLS (for networks with their own CA)
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.opensco-pyproject.sha256"

# Debian packages the project needs at run/test time (why: see docs/setup.md).
APT_PACKAGES=(
    python3-venv python3-pip python3-dev    # venv + pip (ensurepip), headers for sdists
    libzbar0                                # pyzbar loads libzbar.so.0 via ctypes
    mosquitto                               # MQTT broker (kiosk bus, test fixtures)
    postgresql                              # review store for a chain; a private server in tests
    xvfb xauth                              # headless X server for Kivy tests
    libgl1 libegl1 libgl1-mesa-dri          # OpenGL for Kivy's SDL2 window (mesa swrast)
    libmtdev1                               # Kivy mtdev touch input provider
    libglib2.0-0                            # libgthread for ultralytics' opencv-python (train)
    libusb-1.0-0                            # pyusb backend for USB receipt printers
    fonts-noto-cjk                          # CJK glyphs for product names
    git ca-certificates                     # clone/update, TLS for pip
)

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { printf 'run.sh: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: ./run.sh demo [ARGS...]   set up, then run the kiosk demo (sco demo ARGS...)
       ./run.sh test [ARGS...]   set up, then run the test suite (ARGS passed to pytest)
EOF
}

# ---------------------------------------------------------------- set-up ----

ensure_apt_packages() {
    [[ "${OPENSCO_SKIP_APT:-0}" == 1 ]] && return 0
    if ! command -v dpkg >/dev/null 2>&1; then
        log "dpkg not found (not Debian?); make sure these are installed: ${APT_PACKAGES[*]}"
        return 0
    fi
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed$' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0

    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 \
            || die "missing Debian packages: ${missing[*]} -- run as root or install sudo"
        sudo=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
               -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    "${apt[@]}" update >/dev/null || die "apt-get update failed"
    # The tests run their own PostgreSQL; the package must not start the system one (in a
    # chroot that start fails, or takes port 5432 of the host, and fails the install).
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\ncase "$1" in postgresql*) exit 101 ;; esac\nexit 0\n' \
            | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy" \
            && own_policy=1
    fi
    "${apt[@]}" install --no-install-recommends "${missing[@]}" || rc=$?
    ((own_policy)) && "${sudo[@]}" rm -f "$policy"
    ((rc == 0)) || die "apt-get install failed for: ${missing[*]}"
}

venv_ok() {
    [[ -x "$VENV/bin/python" ]] \
        && "$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null
}

ensure_venv() {
    venv_ok && return 0
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null 2>&1 || die "$py not found; install Debian's python3 (3.11)"
    "$py" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
        || die "$py is $("$py" -V 2>&1); OpenSCO needs Python >= 3.11"
    if [[ -e "$VENV" ]]; then
        log ".venv exists but is broken (interpreter missing or too old); recreating it"
        rm -rf "$VENV"
    fi
    log "creating .venv with $(command -v "$py") ($("$py" -V 2>&1))"
    "$py" -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
}

ensure_python_deps() {
    # $1: the extras this mode needs. The demo needs only the kiosk; the tests also train
    # tiny models (the `train` extra: torch and ultralytics, a large but one-off install).
    local extras="$1" want have=""
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    [[ -f "$STAMP" ]] && have="$(cat "$STAMP")"
    if [[ -x "$VENV/bin/sco" && ( "$have" == "$want $extras" || "$have" == "$want dev,train" ) ]]
    then
        return 0
    fi

    # Networks that intercept TLS publish their CA bundle in one of these variables;
    # pip reads PIP_CERT (and requests reads REQUESTS_CA_BUNDLE) itself, so only map
    # SSL_CERT_FILE when neither is set.
    if [[ -z "${PIP_CERT:-}" && -z "${REQUESTS_CA_BUNDLE:-}" && -n "${SSL_CERT_FILE:-}" \
          && -f "${SSL_CERT_FILE}" ]]; then
        export PIP_CERT="$SSL_CERT_FILE"
    fi
    log "installing Python dependencies into .venv (pip install -e '.[$extras]')"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$VENV/bin/python" -m pip install -q -e ".[$extras]" \
        || die "pip install -e '.[$extras]' failed (re-run ./run.sh to retry)"
    printf '%s %s\n' "$want" "$extras" >"$STAMP"
}

setup() {
    ensure_apt_packages
    ensure_venv
    ensure_python_deps "$1"
}

# ------------------------------------------------------------ test mode ----

TMPD=""
BG_PIDS=()
PG_STOP=()

cleanup() {
    local rc=$? pid
    if ((${#PG_STOP[@]})); then
        (cd "$TMPD/pg" && "${PG_STOP[@]}") >/dev/null 2>&1 || true
    fi
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ -n "$TMPD" ]] && rm -rf "$TMPD"
    exit "$rc"
}

free_port() {
    "$VENV/bin/python" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

port_open() {
    "$VENV/bin/python" - "$1" <<'EOF' 2>/dev/null
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
EOF
}

start_xvfb() {
    [[ -n "${DISPLAY:-}" ]] && return 0
    command -v Xvfb >/dev/null 2>&1 || die "Xvfb not found (Debian package xvfb)"
    local n pid i
    for ((n = 99; n < 200; n++)); do
        [[ -e "/tmp/.X${n}-lock" || -e "/tmp/.X11-unix/X${n}" ]] && continue
        Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >"$TMPD/xvfb.log" 2>&1 &
        pid=$!
        for ((i = 0; i < 100; i++)); do    # up to 10 s
            kill -0 "$pid" 2>/dev/null || break
            if [[ -S "/tmp/.X11-unix/X${n}" ]]; then
                BG_PIDS+=("$pid")
                export DISPLAY=":$n"
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    cat "$TMPD/xvfb.log" >&2 || true
    die "could not start Xvfb on any display :99..:199"
}

start_mosquitto() {
    export OPENSCO_MOSQUITTO
    OPENSCO_MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
    [[ -x "$OPENSCO_MOSQUITTO" ]] || die "mosquitto not found (Debian package mosquitto)"
    local port pid i
    port="$(free_port)"
    cat >"$TMPD/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
EOF
    "$OPENSCO_MOSQUITTO" -c "$TMPD/mosquitto.conf" >"$TMPD/mosquitto.log" 2>&1 &
    pid=$!
    BG_PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do    # up to 10 s
        if port_open "$port"; then
            export OPENSCO_TEST_BROKER="127.0.0.1:$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$TMPD/mosquitto.log" >&2 || true
    die "shared test mosquitto did not come up on 127.0.0.1:$port"
}

start_postgres() {
    # A private PostgreSQL on a free loopback port for the review-store tests (trust auth,
    # no fsync: throwaway data). It refuses to run as root, so root runs it as `postgres`,
    # in a directory that user owns.
    [[ -n "${OPENSCO_TEST_POSTGRES:-}" ]] && return 0
    local bin dir="$TMPD/pg" port as=()
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$bin" && -x "$bin/initdb" ]] || die "PostgreSQL not found (Debian package postgresql)"
    port="$(free_port)"
    mkdir -p "$dir"
    if ((EUID == 0)); then
        chmod 711 "$TMPD"    # mktemp -d is 700; the postgres user must reach its directory
        chown postgres: "$dir"
        as=(runuser -u postgres --)
    fi
    if ! (cd "$dir" && "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
            --locale=C --no-sync) >"$TMPD/pg-initdb.log" 2>&1; then
        cat "$TMPD/pg-initdb.log" >&2
        die "initdb failed for the test PostgreSQL"
    fi
    local opts="-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off"
    opts+=" -c synchronous_commit=off -c full_page_writes=off"
    if ! (cd "$dir" && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/log" \
            -w -t 60 start) >/dev/null 2>&1; then
        cat "$dir/log" >&2 || true
        die "the test PostgreSQL did not start on 127.0.0.1:$port"
    fi
    PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop)
    export OPENSCO_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres"
}

run_tests() {
    TMPD="$(mktemp -d "${TMPDIR:-/tmp}/opensco-test.XXXXXX")"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP

    export KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 KIVY_HOME="$VENV/kivy-home"
    # SDL2's own clipboard: if xclip/xsel happen to be installed, Kivy would use them,
    # and their background process inherits (and holds open) captured stdout pipes.
    export KIVY_CLIPBOARD="${KIVY_CLIPBOARD:-sdl2}"
    # run.sh guarantees Xvfb, mosquitto and PostgreSQL, so tests fail (not skip) without them.
    export OPENSCO_REQUIRE_SERVICES="${OPENSCO_REQUIRE_SERVICES:-1}"
    # Nothing is downloaded at run time: ultralytics must not try (fonts, weights, checks),
    # and its settings stay inside the venv instead of the user's home.
    export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$VENV/ultralytics-config"
    mkdir -p "$KIVY_HOME" "$YOLO_CONFIG_DIR"
    start_xvfb
    start_mosquitto
    start_postgres

    local t0 t1 rc=0
    t0="$(date +%s.%N)"
    # Two workers, one test file each at a time: most tests wait on brokers, windows and
    # serial lines, so two processes keep a 2-core machine busy. OPENSCO_TEST_WORKERS=0 runs
    # in one process (and `-n 0` after ./run.sh test does the same).
    local workers=(-n "${OPENSCO_TEST_WORKERS:-2}" --dist loadfile)
    [[ "${OPENSCO_TEST_WORKERS:-2}" == 0 ]] && workers=(-p no:xdist)
    "$VENV/bin/python" -m pytest -q "${workers[@]}" "$@" || rc=$?
    t1="$(date +%s.%N)"
    if ((rc == 5)); then
        log "ERROR: pytest collected no tests (exit 5) -- treated as a failure"
    fi
    awk -v a="$t0" -v b="$t1" -v rc="$rc" \
        'BEGIN { printf "run.sh: test suite wall time: %.1f s (pytest exit %d)\n", b - a, rc }' >&2
    return "$rc"
}

# ------------------------------------------------------------ demo mode ----

run_demo() {
    # With a display: the kiosk window and the shopper-simulator panel, for a person.
    # Without one (a server, CI): Xvfb, and the scripted purchase with a screenshot of
    # each screen it passes (exit 0 when the sale completed).
    export KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 KIVY_HOME="${KIVY_HOME:-$VENV/kivy-home}"
    export KIVY_CLIPBOARD="${KIVY_CLIPBOARD:-sdl2}"
    export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$VENV/ultralytics-config"
    mkdir -p "$KIVY_HOME" "$YOLO_CONFIG_DIR"
    if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
        exec "$VENV/bin/sco" demo "$@"
    fi
    local shots="$ROOT/var/demo/screens" rc=0 a
    for a in "$@"; do    # the text replay needs no window
        [[ "$a" == --replay* || "$a" == --session* ]] && exec "$VENV/bin/sco" demo "$@"
    done
    TMPD="$(mktemp -d "${TMPDIR:-/tmp}/opensco-demo.XXXXXX")"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    start_xvfb
    log "no display: playing the scripted purchase on Xvfb ($DISPLAY)"
    rm -rf "$shots"
    "$VENV/bin/sco" demo --autoplay --screenshots "$shots" "$@" || rc=$?
    if ((rc == 0)); then
        log "sale completed; screenshots of each screen in $shots:"
        ls -1 "$shots" >&2
    else
        log "ERROR: the scripted purchase did not complete (exit $rc); screenshots so far in $shots"
    fi
    return "$rc"
}

# ------------------------------------------------------------------ main ----

cmd="${1:-}"
case "$cmd" in
    demo)
        shift
        setup dev
        run_demo "$@"
        ;;
    test)
        shift
        setup dev,train
        run_tests "$@"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage
        exit 2
        ;;
esac
