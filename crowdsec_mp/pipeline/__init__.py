"""The multi-process daemon: supervisor, parser workers, bucket shards, output.
See README.md in this directory."""
