#!/usr/bin/env bash
# Remove the decisions (bans) on an IP or a range.
set -eu
. "$(dirname "$0")/_common.sh"

usage() {
    cat <<USAGE
Usage: $(basename "$0") [-c CONFIG] IP|RANGE
Delete every decision on IP|RANGE through 'cscli-mp decisions delete'.
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
[ $# -eq 1 ] || { usage >&2; exit 2; }
TARGET=$1

KIND=$("${PYTHON:-python3}" - "$TARGET" <<'PY'
import ipaddress, sys
value = sys.argv[1]
try:
    if "/" in value:
        ipaddress.ip_network(value, strict=False)
        print("range")
    else:
        ipaddress.ip_address(value)
        print("ip")
except ValueError:
    print("invalid")
PY
)
[ "$KIND" != invalid ] || die "'$TARGET' is not a valid IP address or CIDR range" 2

if [ "$KIND" = range ]; then FLAG=-r; else FLAG=-i; fi
cscli decisions delete "$FLAG" "$TARGET" -c "$CONFIG"
