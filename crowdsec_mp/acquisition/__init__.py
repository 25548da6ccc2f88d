"""Datasources: file (cat/tail), journalctl, syslog. See base.py for the interface
and config.py for acquis.yaml / -dsn parsing."""
