"""`python -m crowdsec_mp.api -c CONFIG`: run the Local API server alone."""

from __future__ import annotations

import argparse
import logging
import sys

from crowdsec_mp.config import load_config
from crowdsec_mp.errors import CrowdsecMPError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crowdsec_mp.api", description=__doc__)
    parser.add_argument("-c", "--config", help="config.yaml (default: the usual lookup)")
    parser.add_argument("--threads", type=int, default=8, help="WSGI worker threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from crowdsec_mp.api.server import serve

    try:
        return serve(load_config(args.config), threads=args.threads)
    except CrowdsecMPError as exc:
        print(f"crowdsec-mp api: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
