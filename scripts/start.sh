#!/usr/bin/env bash
# Start the crowdsec-mp daemon in the background.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [-c CONFIG] [-w SECONDS]
Start crowdsec-mp in the background; pid and output go to \$CROWDSEC_MP_RUN_DIR
(default: $PROJECT_DIR/var/run).
  -c CONFIG   configuration file (default: $(default_config))
  -w SECONDS  how long to watch the daemon after starting it (default: 2)
  -h          show this help
USAGE
}

CONFIG=$(default_config)
WAIT=2
while getopts "c:w:h" opt; do
    case "$opt" in
        c) CONFIG=$OPTARG ;;
        w) WAIT=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || die "unexpected argument: $1 (see -h)" 2
case "$WAIT" in ''|*[!0-9]*) die "-w needs a number of seconds, got '$WAIT'" 2 ;; esac
[ -f "$CONFIG" ] || die "configuration file $CONFIG not found"

RUN_DIR=$(run_dir)
PID_FILE="$RUN_DIR/crowdsec-mp.pid"
LOG_FILE="$RUN_DIR/crowdsec-mp.out"
OLD_PID=$(read_pid)
if pid_alive "$OLD_PID"; then
    die "crowdsec-mp is already running (pid $OLD_PID)"
fi
mkdir -p "$RUN_DIR" || die "cannot create $RUN_DIR"

DAEMON=$(find_program crowdsec-mp crowdsec_mp.daemon)
# shellcheck disable=SC2086
PYTHONPATH="$PROJECT_DIR${PYTHONPATH:+:$PYTHONPATH}" nohup $DAEMON -c "$CONFIG" >>"$LOG_FILE" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$PID_FILE"

# A daemon that cannot load its configuration exits at once: report it here.
waited=0
while [ "$waited" -lt "$WAIT" ]; do
    sleep 1
    waited=$((waited + 1))
    if ! kill -0 "$PID" 2>/dev/null; then
        rm -f "$PID_FILE"
        echo "--- last lines of $LOG_FILE:" >&2
        tail -n 20 "$LOG_FILE" >&2
        die "crowdsec-mp exited during startup (see above)"
    fi
done
info "crowdsec-mp started (pid $PID, config $CONFIG, output $LOG_FILE)"
