"""Flask application factory of the Local API.

`create_app(settings_or_mapping, clock=None)` returns a WSGI app; the api
server process serves it with server.serve(), tests with a real server on a
loopback port. `clock` returns epoch seconds (float); it defaults to
time.time and exists so that tests and the flush job agree on "now".

Every error leaves as JSON: APIError through one handler, Flask/werkzeug
HTTP errors (404, 405, 413...) rendered as `{"message": ...}`, and anything
unexpected as a 500 `{"message": "internal error"}` with the traceback in
the log only.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from crowdsec_mp.api.auth import jwt_secret
from crowdsec_mp.api.db import open_database
from crowdsec_mp.api.errors import APIError
from crowdsec_mp.api.profiles import Profile, load_profiles
from crowdsec_mp.api.settings import ApiSettings

log = logging.getLogger(__name__)

#: Body limits after decompression (spec lapi.md §1).
UNAUTHENTICATED_BODY_LIMIT = 2 * 1024 * 1024
BODY_LIMIT = 50 * 1024 * 1024


@dataclass
class ApiState:
    """What every handler needs, kept in `app.extensions["crowdsec_mp"]`."""

    settings: ApiSettings
    database: object
    profiles: list[Profile]
    jwt_secret: bytes
    clock: Callable[[], float] = time.time
    extra: dict = field(default_factory=dict)

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)


def json_response(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json")


def empty_response(status: int) -> Response:
    return Response(b"", status=status)


def read_json_body(limit: int = BODY_LIMIT):
    """The request body as JSON; 400 on bad JSON, 413 over `limit` bytes.

    Bodies sent with `Content-Encoding: gzip` are decompressed first, and the
    limit applies to the decompressed size.
    """
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise APIError(413, f"request body too large (limit {limit} bytes)")
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = decompressor.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise APIError(400, f"invalid gzip body: {exc}") from None
        if len(raw) > limit:
            raise APIError(413, f"request body too large (limit {limit} bytes)")
    # PostgreSQL text cannot hold NUL characters; refuse them for every backend.
    if b"\\u0000" in raw:
        raise APIError(400, "NUL characters (\\u0000) are not allowed in strings")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, str(exc) or "invalid JSON body") from None


def _reject_constant(name):
    """NaN/Infinity are not JSON (and MySQL cannot store them)."""
    raise ValueError(f"invalid number {name}")


def create_app(settings_or_mapping, clock: Callable[[], float] | None = None, *, base_dir=None) -> Flask:
    """The LAPI WSGI app for ApiSettings or a `{"api":..., "db_config":...}` mapping.

    Bouncer lookups and stream pulls are answered by fastpath.BouncerFastPath
    in front of Flask (`app.wsgi_app`); `app.wsgi_app.flask_wsgi` is the
    Flask-only app, which tests compare it with.
    """
    if isinstance(settings_or_mapping, ApiSettings):
        settings = settings_or_mapping
    else:
        settings = ApiSettings.from_mapping(settings_or_mapping, base_dir=base_dir)
    database = open_database(settings.db)
    profiles = load_profiles(settings.profiles_path) if settings.profiles_path else []

    app = Flask("crowdsec_mp.api", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = BODY_LIMIT
    app.json.sort_keys = False
    state = ApiState(settings, database, profiles, jwt_secret(), clock or time.time)
    app.extensions["crowdsec_mp"] = state

    from crowdsec_mp.api.blueprints import alerts, decisions, metrics, watchers
    from crowdsec_mp.api.openapi import openapi_document

    app.register_blueprint(watchers.blueprint)
    app.register_blueprint(alerts.blueprint)
    app.register_blueprint(decisions.blueprint)
    app.register_blueprint(metrics.blueprint)

    @app.get("/health")
    def health():
        return json_response({"status": "up"})

    @app.get("/v1/openapi.json")
    def openapi():
        return json_response(openapi_document())

    pooled = settings.db.backend != "sqlite"

    @app.before_request
    def connect_db():
        for key, value in request.args.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise APIError(400, f"NUL characters are not allowed in parameter {key!r}")
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def release_db(_exc):
        # Pooled backends hand the connection back; SQLite keeps one per thread.
        if pooled and not database.is_closed():
            database.close()

    @app.errorhandler(APIError)
    def api_error(exc: APIError):
        return json_response(exc.body(), exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = json_response({"message": exc.description or exc.name}, exc.code or 500)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"message": "internal error"}, 500)

    from crowdsec_mp.api.fastpath import BouncerFastPath

    app.wsgi_app = BouncerFastPath(app.wsgi_app, state, database, pooled=pooled)
    return app


def gzip_body(payload) -> bytes:
    """Helper for clients/tests: a JSON payload gzip-compressed."""
    return gzip.compress(json.dumps(payload).encode())
