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

FLAG=$(target_flag "$TARGET") || exit $?

cscli decisions delete "$FLAG" "$TARGET" -c "$CONFIG"
