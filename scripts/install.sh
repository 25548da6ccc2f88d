#!/usr/bin/env bash
# Install crowdsec_mp on this machine: virtualenv, package, configuration, data
# directories, our default hub collections, and optionally systemd units.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [options]
  --prefix DIR        program files: virtualenv and hub copy (default: /opt/crowdsec-mp)
  --config-dir DIR    configuration (default: /etc/crowdsec-mp)
  --data-dir DIR      data files, GeoIP databases, SQLite database (default: /var/lib/crowdsec-mp/data)
  --log-dir DIR       logs (default: /var/log/crowdsec-mp)
  --state-dir DIR     bucket state and output queue (default: /var/lib/crowdsec-mp/state)
  --collections LIST  hub collections to install, space separated
                      (default: "crowdsec-mp/linux crowdsec-mp/nginx crowdsec-mp/apache2")
  --python PY         Python >= 3.10 to build the virtualenv with (default: python3)
  --offline           install the package without downloading anything (pip --no-index)
  --no-venv           no virtualenv, no pip: use --python as is (crowdsec_mp must be
                      importable by it already, e.g. installed by the distribution)
  --systemd           also write a crowdsec-mp.service unit
  --systemd-dir DIR   where to write it (default: /etc/systemd/system)
  -h, --help          show this help
An existing config.yaml, acquis.yaml, profiles.yaml or simulation.yaml is never overwritten.
USAGE
}

PREFIX=/opt/crowdsec-mp
CONFIG_DIR=/etc/crowdsec-mp
DATA_DIR=/var/lib/crowdsec-mp/data
LOG_DIR=/var/log/crowdsec-mp
STATE_DIR=/var/lib/crowdsec-mp/state
COLLECTIONS="crowdsec-mp/linux crowdsec-mp/nginx crowdsec-mp/apache2"
PY=${PYTHON:-python3}
OFFLINE=0
NO_VENV=0
SYSTEMD=0
SYSTEMD_DIR=/etc/systemd/system

need_value() {  # need_value OPTION VALUE_COUNT
    [ "$2" -ge 2 ] || die "$1 needs a value (see --help)" 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need_value "$1" $#; PREFIX=$2; shift 2 ;;
        --config-dir) need_value "$1" $#; CONFIG_DIR=$2; shift 2 ;;
        --data-dir) need_value "$1" $#; DATA_DIR=$2; shift 2 ;;
        --log-dir) need_value "$1" $#; LOG_DIR=$2; shift 2 ;;
        --state-dir) need_value "$1" $#; STATE_DIR=$2; shift 2 ;;
        --collections) need_value "$1" $#; COLLECTIONS=$2; shift 2 ;;
        --python) need_value "$1" $#; PY=$2; shift 2 ;;
        --offline) OFFLINE=1; shift ;;
        --no-venv) NO_VENV=1; shift ;;
        --systemd) SYSTEMD=1; shift ;;
        --systemd-dir) need_value "$1" $#; SYSTEMD_DIR=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" 2 ;;
    esac
done

command -v "$PY" >/dev/null 2>&1 || die "Python interpreter '$PY' not found (use --python)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$PY is older than Python 3.10"
for dir in "$PREFIX" "$CONFIG_DIR" "$DATA_DIR" "$LOG_DIR" "$STATE_DIR"; do
    case "$dir" in /*) ;; *) die "directories must be absolute paths: '$dir'" 2 ;; esac
done

info "creating directories"
mkdir -p "$PREFIX" "$CONFIG_DIR" "$CONFIG_DIR/acquis.d" "$DATA_DIR" "$LOG_DIR" "$STATE_DIR" \
    || die "cannot create the directories (run as root, or choose other paths)"

VENV="$PREFIX/venv"
if [ "$NO_VENV" -eq 1 ]; then
    PYBIN=$(command -v "$PY")
    BINDIR=$(dirname "$PYBIN")
    "$PYBIN" -c 'import crowdsec_mp' 2>/dev/null \
        || die "--no-venv: crowdsec_mp is not importable by $PYBIN"
else
    PYBIN="$VENV/bin/python"
    BINDIR="$VENV/bin"
    if [ ! -x "$PYBIN" ]; then
        info "creating virtualenv $VENV"
        # System site-packages: reuse dependencies the distribution already ships.
        "$PY" -m venv --system-site-packages "$VENV" || die "cannot create the virtualenv $VENV"
    fi
    info "installing the crowdsec_mp package"
    PIP_FLAGS="--quiet --disable-pip-version-check"
    if [ "$OFFLINE" -eq 1 ]; then PIP_FLAGS="$PIP_FLAGS --no-index --no-build-isolation"; fi
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install $PIP_FLAGS "$PROJECT_DIR" || die "pip could not install $PROJECT_DIR"
fi

info "copying the hub to $PREFIX/hub"
rm -rf "$PREFIX/hub.new"
cp -R "$PROJECT_DIR/hub" "$PREFIX/hub.new"
rm -rf "$PREFIX/hub"
mv "$PREFIX/hub.new" "$PREFIX/hub"

info "writing the configuration in $CONFIG_DIR"
for file in acquis.yaml profiles.yaml simulation.yaml; do
    if [ ! -e "$CONFIG_DIR/$file" ]; then
        cp "$PROJECT_DIR/conf.d/$file" "$CONFIG_DIR/$file"
    fi
done
mkdir -p "$CONFIG_DIR/patterns"
if [ -d "$PROJECT_DIR/conf.d/patterns" ]; then
    cp -R "$PROJECT_DIR/conf.d/patterns/." "$CONFIG_DIR/patterns/"
fi
if [ ! -e "$CONFIG_DIR/config.yaml" ]; then
    # The built-in config with every path pointing at the installed locations.
    "$PYBIN" - "$PROJECT_DIR/conf.d/config.yaml" "$CONFIG_DIR" "$DATA_DIR" "$LOG_DIR" \
        "$STATE_DIR" "$PREFIX/hub" >"$CONFIG_DIR/config.yaml.new" <<'PY' || die "cannot write $CONFIG_DIR/config.yaml"
import sys
import yaml

source, config_dir, data_dir, log_dir, state_dir, hub_dir = sys.argv[1:]
with open(source, encoding="utf-8") as handle:
    config = yaml.safe_load(handle)
config.setdefault("common", {})["log_dir"] = log_dir
config["config_paths"] = {
    "config_dir": config_dir,
    "data_dir": data_dir,
    "hub_dir": hub_dir,
    "index_path": f"{hub_dir}/.index.json",
    "pattern_dir": f"{config_dir}/patterns",
    "simulation_path": f"{config_dir}/simulation.yaml",
}
service = config.setdefault("crowdsec_service", {})
service["acquisition_path"] = f"{config_dir}/acquis.yaml"
service["acquisition_dir"] = f"{config_dir}/acquis.d"
service["state_dir"] = state_dir
config.setdefault("db_config", {})["db_path"] = f"{data_dir}/crowdsec.db"
api = config.setdefault("api", {})
api.setdefault("client", {})["credentials_path"] = f"{config_dir}/local_api_credentials.yaml"
api.setdefault("server", {})["profiles_path"] = f"{config_dir}/profiles.yaml"
sys.stdout.write("# crowdsec_mp configuration written by scripts/install.sh\n")
sys.stdout.write(yaml.safe_dump(config, sort_keys=False, default_flow_style=False))
PY
    mv "$CONFIG_DIR/config.yaml.new" "$CONFIG_DIR/config.yaml"
fi

if [ -n "$COLLECTIONS" ]; then
    info "installing hub collections: $COLLECTIONS"
    # shellcheck disable=SC2086
    "$PYBIN" -m crowdsec_mp.hub collections install $COLLECTIONS -c "$CONFIG_DIR/config.yaml" \
        || die "installing the collections failed (see above)"
fi

# The agent logs in to the Local API with these credentials (cscli-mp machines add).
CREDS="$CONFIG_DIR/local_api_credentials.yaml"
if [ ! -e "$CREDS" ]; then
    if "$PYBIN" -m crowdsec_mp machines --help >/dev/null 2>&1; then
        info "registering this machine in the Local API database"
        "$PYBIN" -m crowdsec_mp machines add "$(hostname)-crowdsec-mp" --auto -f "$CREDS" \
            -c "$CONFIG_DIR/config.yaml" || die "cannot create the Local API credentials $CREDS"
    else
        info "note: 'cscli-mp machines' is not available; create $CREDS (url, login, password) before starting"
    fi
fi
if [ -e "$CREDS" ]; then
    info "checking the configuration (crowdsec-mp -t)"
    "$PYBIN" -m crowdsec_mp.daemon -c "$CONFIG_DIR/config.yaml" -t >&2 \
        || die "the installed configuration does not load (see above)"
fi

if [ "$SYSTEMD" -eq 1 ]; then
    mkdir -p "$SYSTEMD_DIR" || die "cannot create $SYSTEMD_DIR"
    cat >"$SYSTEMD_DIR/crowdsec-mp.service" <<UNIT
[Unit]
Description=crowdsec-mp behaviour detection engine (CrowdSec compatible)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStartPre=$PYBIN -m crowdsec_mp.daemon -c $CONFIG_DIR/config.yaml -t
ExecStart=$PYBIN -m crowdsec_mp.daemon -c $CONFIG_DIR/config.yaml
ExecReload=/bin/kill -HUP \$MAINPID
KillMode=mixed
TimeoutStopSec=60
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
    info "wrote $SYSTEMD_DIR/crowdsec-mp.service"
    if [ "$SYSTEMD_DIR" = /etc/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload || info "systemctl daemon-reload failed; run it yourself"
        info "enable it with: systemctl enable --now crowdsec-mp"
    fi
fi

cat <<DONE
crowdsec_mp is installed.
  programs:      $BINDIR/crowdsec-mp, $BINDIR/cscli-mp (or: $PYBIN -m crowdsec_mp)
  configuration: $CONFIG_DIR/config.yaml
  data:          $DATA_DIR (put GeoLite2-City.mmdb / GeoLite2-ASN.mmdb here for GeoIP)
Start it with: CROWDSEC_MP_CONFIG=$CONFIG_DIR/config.yaml $PROJECT_DIR/scripts/start.sh
DONE
