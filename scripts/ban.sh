#!/usr/bin/env bash
# Ban an IP or a range by hand: a decision in the Local API, served to bouncers.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [-c CONFIG] IP|RANGE [DURATION] [REASON]
Add a ban decision through 'cscli-mp decisions add'.
  IP|RANGE   an IPv4/IPv6 address or a CIDR range (1.2.3.0/24)
  DURATION   how long, e.g. 30m, 4h, 7d (default: 4h)
  REASON     free text (default: "manual ban from $(basename "$0")")
  -c CONFIG  configuration file (default: $(default_config))
  -h         show this help
USAGE
}

CONFIG=$(default_config)
while getopts "c:h" opt; do
    case "$opt" in
        c) CONFIG=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] && [ $# -le 3 ] || { usage >&2; exit 2; }
TARGET=$1
DURATION=${2:-4h}
REASON=${3:-manual ban from $(basename "$0")}

FLAG=$(target_flag "$TARGET") || exit $?
echo "$DURATION" | grep -Eq '^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d))+$' \
    || die "'$DURATION' is not a valid duration (examples: 30m, 4h, 7d)" 2

cscli decisions add "$FLAG" "$TARGET" -d "$DURATION" -R "$REASON" -t ban -c "$CONFIG"
