#!/usr/bin/env bash
# Stop the crowdsec-mp daemon started by start.sh: SIGTERM, wait, optionally SIGKILL.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [-t SECONDS] [-f]
Stop the crowdsec-mp daemon whose pid is in \$CROWDSEC_MP_RUN_DIR/crowdsec-mp.pid.
It gets SIGTERM (graceful: bucket state and pending alerts are saved).
  -t SECONDS  how long to wait for it to exit (default: 30)
  -f          send SIGKILL if it is still running after the wait
  -h          show this help
USAGE
}

TIMEOUT=30
FORCE=0
while getopts "t:fh" opt; do
    case "$opt" in
        t) TIMEOUT=$OPTARG ;;
        f) FORCE=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || die "unexpected argument: $1 (see -h)" 2
case "$TIMEOUT" in ''|*[!0-9]*) die "-t needs a number of seconds, got '$TIMEOUT'" 2 ;; esac

PID_FILE="$(run_dir)/crowdsec-mp.pid"
PID=$(read_pid)
if [ -z "$PID" ]; then
    info "crowdsec-mp is not running (no pid file $PID_FILE)"
    exit 0
fi
if ! pid_alive "$PID"; then
    rm -f "$PID_FILE"
    info "crowdsec-mp is not running (stale pid file removed)"
    exit 0
fi

kill -TERM "$PID"
waited=0
while pid_alive "$PID" && [ "$waited" -lt "$TIMEOUT" ]; do
    sleep 1
    waited=$((waited + 1))
done
if pid_alive "$PID"; then
    if [ "$FORCE" -eq 1 ]; then
        kill -KILL "$PID"
        info "crowdsec-mp (pid $PID) did not stop in ${TIMEOUT}s: killed"
    else
        die "crowdsec-mp (pid $PID) is still running after ${TIMEOUT}s; use -f to kill it"
    fi
else
    info "crowdsec-mp stopped (pid $PID)"
fi
rm -f "$PID_FILE"
