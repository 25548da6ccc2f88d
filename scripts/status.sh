#!/usr/bin/env bash
# Show whether crowdsec-mp runs: its processes, its queues/metrics and the last alerts.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [-c CONFIG] [-n COUNT]
Print the daemon's processes, its metrics (queues, parsed/dropped lines) and
the last alerts. Exit status: 0 running, 3 not running (LSB).
  -c CONFIG   configuration file (default: $(default_config))
  -n COUNT    number of alerts to show (default: 10)
  -h          show this help
USAGE
}

CONFIG=$(default_config)
COUNT=10
while getopts "c:n:h" opt; do
    case "$opt" in
        c) CONFIG=$OPTARG ;;
        n) COUNT=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || die "unexpected argument: $1 (see -h)" 2
case "$COUNT" in ''|*[!0-9]*) die "-n needs a number, got '$COUNT'" 2 ;; esac

PID=$(read_pid)
echo "== processes"
if ! pid_alive "$PID"; then
    echo "crowdsec-mp is not running"
    exit 3
fi
# The supervisor and its children (parser workers, bucket shards, output, api).
ps -o pid=,ppid=,etime=,rss=,args= -p "$PID" 2>/dev/null || true
ps -o pid=,ppid=,etime=,rss=,args= --ppid "$PID" 2>/dev/null || true

echo
echo "== queues and metrics"
if cscli_has_command metrics; then
    cscli metrics -c "$CONFIG" || echo "(cscli-mp metrics failed, see above)"
else
    echo "(cscli-mp metrics is not available in this installation)"
fi

echo
echo "== last $COUNT alerts"
if cscli_has_command alerts; then
    cscli alerts list -l "$COUNT" -c "$CONFIG" || echo "(cscli-mp alerts list failed, see above)"
else
    echo "(cscli-mp alerts is not available in this installation)"
fi
