#!/usr/bin/env bash
# Quick start: create .venv if needed, install the package and our default hub
# collections into the built-in configuration (conf.d/), then run the daemon in
# the foreground. Stop it with Ctrl-C.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [--no-install] [--python PY] [-- DAEMON_ARGS...]
Run crowdsec-mp in the foreground on the built-in configuration
($PROJECT_DIR/conf.d/config.yaml).
  --no-install  do not (re)install the package and the default collections
  --python PY   Python >= 3.10 to create .venv with (default: python3)
  -h, --help    show this help
Arguments after -- are passed to crowdsec-mp.
USAGE
}

INSTALL=1
PY=${PYTHON:-python3}
while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) INSTALL=0; shift ;;
        --python) [ $# -ge 2 ] || die "--python needs a value (see --help)" 2; PY=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option: $1 (see --help)" 2 ;;
    esac
done

CONFIG="$PROJECT_DIR/conf.d/config.yaml"
VENV="$PROJECT_DIR/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PY" >/dev/null 2>&1 || die "Python interpreter '$PY' not found (use --python)"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is older than Python 3.10"
    info "creating $VENV"
    "$PY" -m venv --system-site-packages "$VENV" || die "cannot create $VENV"
    INSTALL=1
fi
if [ "$INSTALL" -eq 1 ]; then
    info "installing crowdsec_mp into $VENV (editable)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -e "$PROJECT_DIR" \
        || die "pip could not install $PROJECT_DIR"
    info "installing the default collections into $PROJECT_DIR/conf.d"
    "$VENV/bin/python" -m crowdsec_mp.hub collections install \
        crowdsec-mp/linux crowdsec-mp/nginx crowdsec-mp/apache2 -c "$CONFIG" \
        || die "installing the default collections failed (see above)"
fi
[ -x "$VENV/bin/crowdsec-mp" ] || die "$VENV/bin/crowdsec-mp is missing; run without --no-install"
# The agent logs in to the Local API (run by the same daemon) with these.
CREDS="$PROJECT_DIR/conf.d/local_api_credentials.yaml"
if [ ! -e "$CREDS" ]; then
    "$VENV/bin/python" -m crowdsec_mp machines --help >/dev/null 2>&1 \
        || die "no Local API credentials $CREDS, and 'cscli-mp machines' is not available to create them"
    info "registering this machine in the Local API database ($CREDS)"
    "$VENV/bin/python" -m crowdsec_mp machines add "$(hostname)-quickstart" --auto -f "$CREDS" -c "$CONFIG" \
        || die "cannot create the Local API credentials $CREDS"
fi
exec "$VENV/bin/crowdsec-mp" -c "$CONFIG" "$@"
