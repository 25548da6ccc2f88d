"""The pure engine: expressions, grok, parser tree, buckets, alerts.

Nothing in this package opens sockets, reads the wall clock or writes files;
configuration and data files are read only at load time. See README.md here.
"""
