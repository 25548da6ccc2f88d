# Shared helpers for the crowdsec_mp shell scripts (sourced, not run).
# Every script sets `set -eu` itself; these functions only read variables they define.

PROJECT_DIR=$(cd "$(dirname "$0")/.." && pwd)

die() {  # die MESSAGE [EXIT_CODE]: one clear line on stderr, then exit
    echo "$(basename "$0"): error: $1" >&2
    exit "${2:-1}"
}

info() {
    echo "$(basename "$0"): $1" >&2
}

# The configuration file: $CROWDSEC_MP_CONFIG, else /etc/crowdsec-mp/config.yaml,
# else the built-in one (same rule as crowdsec_mp.config.default_config_path).
default_config() {
    if [ -n "${CROWDSEC_MP_CONFIG:-}" ]; then
        echo "$CROWDSEC_MP_CONFIG"
    elif [ -f /etc/crowdsec-mp/config.yaml ]; then
        echo /etc/crowdsec-mp/config.yaml
    else
        echo "$PROJECT_DIR/conf.d/config.yaml"
    fi
}

# Where start.sh keeps the pid and the output of the daemon.
run_dir() {
    echo "${CROWDSEC_MP_RUN_DIR:-$PROJECT_DIR/var/run}"
}

# A command line for a program of the package: the project .venv first, then
# PATH, then `python3 -m MODULE` from the checkout.
find_program() {  # find_program NAME MODULE
    if [ -x "$PROJECT_DIR/.venv/bin/$1" ]; then
        echo "$PROJECT_DIR/.venv/bin/$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        echo "${PYTHON:-python3} -m $2"
    fi
}

cscli() {  # cscli ARGS...: run cscli-mp ($CSCLI_MP overrides which one)
    # shellcheck disable=SC2046
    PYTHONPATH="$PROJECT_DIR${PYTHONPATH:+:$PYTHONPATH}" ${CSCLI_MP:-$(find_program cscli-mp crowdsec_mp)} "$@"
}

# True if the cscli-mp in use knows the given top-level command.
cscli_has_command() {  # cscli_has_command NAME
    cscli "$1" --help >/dev/null 2>&1
}

pid_alive() {  # pid_alive PID: the process exists and is a crowdsec-mp daemon
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/cmdline" ]; then
        tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -e crowdsec-mp -e crowdsec_mp
    fi
}

read_pid() {
    pid_file="$(run_dir)/crowdsec-mp.pid"
    if [ -f "$pid_file" ]; then
        cat "$pid_file"
    fi
}

# target_flag VALUE: print the cscli-mp flag for an IP (-i) or a CIDR range (-r);
# exit 2 with a clear error for anything else, so that a typo never reaches the API.
target_flag() {
    kind=$("${PYTHON:-python3}" - "$1" <<'PY'
import ipaddress, sys
value = sys.argv[1]
try:
    if "/" in value:
        ipaddress.ip_network(value, strict=False)
        print("-r")
    else:
        ipaddress.ip_address(value)
        print("-i")
except ValueError:
    print("invalid")
PY
)
    [ "$kind" != invalid ] || die "'$1' is not a valid IP address or CIDR range" 2
    echo "$kind"
}
