#!/usr/bin/env python3
"""Build (or check) the `.index.json` of a hub directory.

Usage: scripts/build_hub_index.py [HUB_DIR] [--check]
  HUB_DIR  hub to index (default: the project's hub/)
  --check  do not write; exit 1 if the index is missing or out of date
Versions continue from the existing index: a changed item gets the next version.
"""

import argparse
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from crowdsec_mp.errors import CrowdsecMPError  # noqa: E402
from crowdsec_mp.hub.build_index import build_index, index_text, read_index  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hub_dir", nargs="?", default=str(PROJECT_DIR / "hub"), help="hub directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if .index.json is out of date")
    args = parser.parse_args(argv)
    hub_dir = Path(args.hub_dir)
    if not hub_dir.is_dir():
        print(f"build_hub_index: error: {hub_dir} is not a directory", file=sys.stderr)
        return 2
    index_path = hub_dir / ".index.json"
    try:
        old_text = index_path.read_text(encoding="utf-8") if index_path.is_file() else ""
        text = index_text(build_index(hub_dir, read_index(index_path)))
    except CrowdsecMPError as exc:
        print(f"build_hub_index: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if text != old_text:
            print(f"{index_path} is out of date: run scripts/build_hub_index.py", file=sys.stderr)
            return 1
        print(f"{index_path} is up to date")
        return 0
    if text != old_text:
        index_path.write_text(text, encoding="utf-8")
        print(f"wrote {index_path}")
    else:
        print(f"{index_path} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
