"""`crowdsec-mp`: the daemon entry point.

The multi-process pipeline (supervisor, parser pool, bucket shards, output,
API) is being built (issue 4). Until it lands, this entry point says so and
exits non-zero rather than pretending to run.
"""

import sys


def main(argv=None) -> int:
    print(
        "crowdsec-mp: the daemon is not implemented yet; "
        "`cscli-mp hubtest` and `cscli-mp explain` run the engine today.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
