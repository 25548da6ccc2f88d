"""The Local API: CrowdSec v1 wire-compatible HTTP service (spec/lapi.md).

Layout:
  settings.py   `api` + `db_config` sections of config.yaml -> ApiSettings
  db.py         backend choice (SQLite / PostgreSQL / MySQL), schema + migrations
  models.py     peewee tables (machines, bouncers, alerts, events, meta, decisions)
  queries.py    every query the blueprints and the CLI need
  auth.py       bouncer API keys, machine passwords, JWT
  profiles.py   profiles.yaml -> decisions for posted alerts
  wire.py       validation of posted JSON and rendering of stored rows
  blueprints/   thin Flask handlers
  flush.py      retention (db_config.flush)
  server.py     create_app() served by waitress; `python -m crowdsec_mp.api -c CONFIG`
  admin.py      functions the CLI calls directly on the database
"""
