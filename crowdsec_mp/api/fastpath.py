"""The bouncers' two hot requests served without Flask's per-request machinery.

`GET /v1/decisions` (live lookups) and `GET /v1/decisions/stream` (pulls)
are most of a LAPI's traffic. Through Flask each pays for a request
context, URL matching, hooks, signals and a Response object: about half of
the app's own CPU for a lookup. `BouncerFastPath` wraps the Flask WSGI app
and answers these two requests itself, with the same functions the Flask
views use (params.decision_filter, auth.authenticate_bouncer_of,
decisions_body / stream_body), so that the bytes on the wire are the same.

It only takes requests it can answer exactly and hands everything else to
Flask untouched, BEFORE doing anything with side effects:
  * any method but GET, any other path (trailing slash included),
  * a NUL character in the query string (Flask's 400),
  * a missing or unknown key (403), a key whose bouncer row must be
    created or updated (new IP, new User-Agent): Flask does that,
  * a bad parameter (400).
Errors after that point (database failure) are rendered as the Flask app
would render them.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 (registers the "werkzeug.url_quote" codec error handler)
from werkzeug.datastructures import EnvironHeaders, MultiDict

from crowdsec_mp.api import params
from crowdsec_mp.api.app import json_response
from crowdsec_mp.api.auth import BouncerWriteNeeded, authenticate_bouncer_of
from crowdsec_mp.api.blueprints.decisions import decisions_body, stream_body
from crowdsec_mp.api.errors import APIError

log = logging.getLogger(__name__)

LOOKUP_PATH = "/v1/decisions"
STREAM_PATH = "/v1/decisions/stream"
_JSON_TYPE = ("Content-Type", "application/json")


class BouncerFastPath:
    """WSGI middleware: bouncer lookups and stream pulls, else `flask_wsgi`."""

    def __init__(self, flask_wsgi, state, database, *, pooled: bool):
        self.flask_wsgi = flask_wsgi
        self.state = state
        self.database = database
        self.pooled = pooled

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if (path != LOOKUP_PATH and path != STREAM_PATH) or environ.get("REQUEST_METHOD") != "GET":
            return self.flask_wsgi(environ, start_response)
        args = _query_args(environ)
        if args is None:
            return self.flask_wsgi(environ, start_response)
        self.database.connect(reuse_if_open=True)
        try:
            body = self._body(path, args, environ)
        except _NotFast:
            body = None
        except APIError as exc:
            return json_response(exc.body(), exc.status)(environ, start_response)
        except Exception:
            log.exception("unhandled error on GET %s", path)
            return json_response({"message": "internal error"}, 500)(environ, start_response)
        finally:
            # As the Flask app's teardown: pooled backends get the
            # connection back, SQLite keeps one per thread.
            if self.pooled and not self.database.is_closed():
                self.database.close()
        if body is None:
            return self.flask_wsgi(environ, start_response)
        if isinstance(body, str):
            data = body.encode()
            start_response("200 OK", [_JSON_TYPE, ("Content-Length", str(len(data)))])
            return [data]
        start_response("200 OK", [_JSON_TYPE])
        return body

    def _body(self, path, args: MultiDict, environ):
        """The response body, or raises _NotFast before any side effect."""
        headers = EnvironHeaders(environ)
        stream = path == STREAM_PATH
        try:
            bouncer = authenticate_bouncer_of(
                headers, environ.get("REMOTE_ADDR") or "", self.state, recent_rows=not stream, may_write=False
            )
            filt = params.decision_filter(args, stream=stream)
        except (APIError, BouncerWriteNeeded):
            raise _NotFast() from None
        if not stream:
            return decisions_body(filt, bouncer, self.state)
        startup, dedup = args.get("startup") == "true", args.get("dedup") != "false"
        return stream_body(filt, bouncer, self.state, startup=startup, dedup=dedup)


class _NotFast(Exception):
    """Flask must answer this request (before any side effect)."""


def _query_args(environ) -> MultiDict | None:
    """request.args as werkzeug builds it, or None when Flask must answer
    (undecodable query string, NUL characters: Flask's errors)."""
    try:
        query = environ.get("QUERY_STRING", "").encode("latin1").decode()
        args = MultiDict(parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote"))
    except (UnicodeError, ValueError):
        return None
    for key, value in args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            return None
    return args
