#!/usr/bin/env bash
# Make a TEST certificate authority and certificates for one store's mosquitto broker.
#
#   make-certs.sh OUTDIR STORE KIOSK_IDS... [--tablets NAME...] [--backend]
#
#   OUTDIR      where to write (created; keys are chmod 600 there). Never commit it.
#   STORE       the store id, written into each client certificate's OU (informational:
#               mosquitto only uses the CN, see docs/security.md).
#   KIOSK_IDS   one client certificate per kiosk, CN = kiosk id (= MQTT client id).
#   --tablets   attendant tablets; CN = tablet-<NAME> (a NAME already starting with
#               "tablet-" is used as is).
#   --backend   one certificate with CN = backend.
#
# Writes ca.crt/ca.key, server.crt/server.key (SAN: localhost, 127.0.0.1, ::1) and
# <cn>.crt/<cn>.key per client. Idempotent: an existing CA is reused and an existing
# certificate that still verifies against it is kept; anything else is (re)made.
# Keys are EC P-256 (KEY_ALG=ed25519 switches to Ed25519; mosquitto 2.0.11 + OpenSSL 3
# accepts both). DAYS (default 825) sets the validity of leaf certificates.
#
# This is for tests and lab setups. In production use your PKI / an enrolment flow with
# short-lived certificates; keep the CA key off the broker.
set -euo pipefail

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 3 ]] || usage
OUTDIR=$1
STORE=$2
shift 2

KIOSKS=()
TABLETS=()
BACKEND=0
mode=kiosk
for arg in "$@"; do
    case "$arg" in
        --tablets) mode=tablet ;;
        --backend) BACKEND=1 ;;
        -h | --help) usage ;;
        -*) echo "unknown option: $arg" >&2; usage ;;
        *)
            if [[ $mode == tablet ]]; then
                [[ $arg == tablet-* ]] || arg="tablet-$arg"
                TABLETS+=("$arg")
            else
                KIOSKS+=("$arg")
            fi
            ;;
    esac
done

SEGMENT='^[a-z0-9][a-z0-9-]{0,31}$'
for id in "$STORE" "${KIOSKS[@]}" "${TABLETS[@]}"; do
    [[ $id =~ $SEGMENT ]] || { echo "not a valid id (1-32 of a-z 0-9 -): $id" >&2; exit 2; }
done
for id in "${KIOSKS[@]}"; do
    if [[ $id == tablet-* || $id == backend ]]; then
        echo "kiosk id $id is reserved for tablets/backend" >&2
        exit 2
    fi
done

KEY_ALG=${KEY_ALG:-ec}
DAYS=${DAYS:-825}
mkdir -p "$OUTDIR"
umask 077

genkey() { # genkey FILE
    if [[ $KEY_ALG == ed25519 ]]; then
        openssl genpkey -algorithm ed25519 -out "$1" 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    fi
}

if [[ -s $OUTDIR/ca.crt && -s $OUTDIR/ca.key ]]; then
    echo "kept   $OUTDIR/ca.crt"
else
    genkey "$OUTDIR/ca.key"
    openssl req -x509 -new -key "$OUTDIR/ca.key" -days 3650 -sha256 \
        -subj "/O=OpenSCO test/CN=OpenSCO test device CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$OUTDIR/ca.crt" 2>/dev/null
    echo "made   $OUTDIR/ca.crt (CA, $KEY_ALG)"
fi

# leaf NAME CN EXTFILE_CONTENT
leaf() {
    local name=$1 cn=$2 ext=$3 crt=$OUTDIR/$1.crt key=$OUTDIR/$1.key
    if [[ -s $crt && -s $key ]] \
        && openssl verify -CAfile "$OUTDIR/ca.crt" "$crt" >/dev/null 2>&1; then
        echo "kept   $crt"
        return
    fi
    genkey "$key"
    local csr extfile
    csr=$(mktemp) extfile=$(mktemp)
    printf '%s\n' "$ext" >"$extfile"
    openssl req -new -key "$key" -subj "/O=OpenSCO/OU=$STORE/CN=$cn" -out "$csr" 2>/dev/null
    openssl x509 -req -in "$csr" -CA "$OUTDIR/ca.crt" -CAkey "$OUTDIR/ca.key" \
        -CAcreateserial -days "$DAYS" -sha256 -extfile "$extfile" -out "$crt" 2>/dev/null
    rm -f "$csr" "$extfile"
    echo "made   $crt (CN=$cn)"
}

CLIENT_EXT="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

leaf server localhost "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

for id in "${KIOSKS[@]}" "${TABLETS[@]}"; do
    leaf "$id" "$id" "$CLIENT_EXT"
done
if [[ $BACKEND == 1 ]]; then
    leaf backend backend "$CLIENT_EXT"
fi

# The broker drops root privileges to the mosquitto user, which must read its own key.
chmod 644 "$OUTDIR"/*.crt
echo "done   $OUTDIR (store $STORE: ${#KIOSKS[@]} kiosk(s), ${#TABLETS[@]} tablet(s), backend=$BACKEND)"
