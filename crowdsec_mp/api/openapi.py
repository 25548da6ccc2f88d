"""OpenAPI 3 document of our routes (served at /v1/openapi.json).

Hand-written so that it documents what we serve, including our 4xx answers
where CrowdSec answers 5xx (errors.py). It also drives the schemathesis fuzz
test (tests/api/test_openapi_fuzz.py).
"""

from __future__ import annotations

import copy


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema):
    return {"application/json": {"schema": schema}}


def _error(description):
    return {"description": description, "content": _json(_ref("ErrorResponse"))}


def _query(name, schema=None, description=""):
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}, "description": description}


def _path_id(name):
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_STRING = {"type": "string"}
_BOOL_TEXT = {"type": "string", "enum": ["true", "false"]}
_INT_TEXT = {"type": "string", "pattern": "^[0-9]{1,6}$"}

_DECISION_QUERY = [
    _query("ip", description="IPv4/IPv6 address"),
    _query("range", description="CIDR range"),
    _query("contains", _BOOL_TEXT, "true: decisions containing ip/range; false: contained in it"),
    _query("scope", description="comma-separated scopes (ip, range, country, as, custom)"),
    _query("scopes"),
    _query("value"),
    _query("type"),
    _query("origins", description="comma-separated origins"),
    _query("scenarios_containing"),
    _query("scenarios_not_containing"),
    _query("simulated"),
    _query("limit", _INT_TEXT),
    _query("offset", _INT_TEXT),
    _query("id_gt", _INT_TEXT),
]

_ALERT_QUERY = [
    _query(name, schema)
    for name, schema in (
        ("scope", None), ("value", None), ("scenario", None), ("ip", None), ("range", None),
        ("contains", _BOOL_TEXT), ("since", None), ("until", None), ("created_before", None),
        ("decision_type", None), ("origin", None), ("include_capi", _BOOL_TEXT),
        ("has_active_decision", _BOOL_TEXT), ("kind", None), ("simulated", _BOOL_TEXT),
        ("limit", _INT_TEXT), ("sort", {"type": "string", "enum": ["ASC", "DESC"]}),
        ("with_decisions", _BOOL_TEXT),
    )
]  # fmt: skip

_DELETE_DECISION_QUERY = [
    _query(name, schema)
    for name, schema in (
        ("ip", None), ("range", None), ("contains", _BOOL_TEXT), ("scopes", None), ("value", None),
        ("type", None), ("origin", None), ("scenario", None), ("uuid", None),
    )
]  # fmt: skip

_MACHINE = [{"JWTAuthorizer": []}]
_BOUNCER = [{"APIKeyAuthorizer": []}]

_SCHEMAS = {
    "ErrorResponse": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": _STRING, "code": {"type": "integer"}, "errors": _STRING},
    },
    "WatcherRegistrationRequest": {
        "type": "object",
        "required": ["machine_id", "password"],
        "properties": {
            "machine_id": {"type": "string", "minLength": 1, "maxLength": 255},
            "password": {"type": "string", "minLength": 1},
            "registration_token": {"type": "string", "minLength": 32, "maxLength": 255},
        },
    },
    "WatcherAuthRequest": {
        "type": "object",
        "required": ["machine_id", "password"],
        "properties": {
            "machine_id": {"type": "string", "minLength": 1},
            "password": {"type": "string", "minLength": 1},
            "scenarios": {"type": "array", "items": _STRING},
        },
    },
    "WatcherAuthResponse": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "expire": _STRING, "token": _STRING},
    },
    "MetaItem": {"type": "object", "properties": {"key": _STRING, "value": _STRING}},
    "Meta": {"type": "array", "items": _ref("MetaItem")},
    "Event": {
        "type": "object",
        "required": ["timestamp", "meta"],
        "properties": {"timestamp": _STRING, "meta": _ref("Meta")},
    },
    "Source": {
        "type": "object",
        "required": ["scope", "value"],
        "properties": {
            "scope": _STRING, "value": _STRING, "ip": _STRING, "range": _STRING, "as_number": _STRING,
            "as_name": _STRING, "cn": _STRING, "latitude": {"type": "number", "format": "float"},
            "longitude": {"type": "number", "format": "float"},
        },
    },  # fmt: skip
    "Decision": {
        "type": "object",
        "required": ["origin", "type", "scope", "value", "duration", "scenario"],
        "properties": {
            "id": {"type": "integer"}, "uuid": _STRING, "origin": _STRING, "type": _STRING, "scope": _STRING,
            "value": _STRING, "duration": {"type": "string", "description": "Go duration, e.g. 4h, 1d12h"},
            "until": _STRING, "scenario": _STRING, "simulated": {"type": "boolean"},
        },
    },  # fmt: skip
    "Alert": {
        "type": "object",
        "required": [
            "scenario", "scenario_hash", "scenario_version", "message", "events_count", "start_at",
            "stop_at", "capacity", "leakspeed", "simulated", "events", "source",
        ],
        "properties": {
            "id": {"type": "integer"}, "uuid": _STRING, "machine_id": _STRING, "created_at": _STRING,
            "scenario": _STRING, "scenario_hash": _STRING, "scenario_version": _STRING, "message": _STRING,
            "events_count": {"type": "integer", "format": "int32"},
            "start_at": {"type": "string", "format": "date-time"},
            "stop_at": {"type": "string", "format": "date-time"},
            "capacity": {"type": "integer", "format": "int32"}, "leakspeed": _STRING,
            "simulated": {"type": "boolean"}, "remediation": {"type": "boolean"}, "kind": _STRING,
            "events": {"type": "array", "items": _ref("Event")},
            "decisions": {"type": "array", "items": _ref("Decision"), "nullable": True},
            "source": _ref("Source"), "meta": _ref("Meta"),
            "labels": {"type": "array", "items": _STRING, "nullable": True},
        },
    },  # fmt: skip
    "BouncerDecision": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "uuid": _STRING, "origin": _STRING, "type": _STRING, "scope": _STRING,
            "value": _STRING, "duration": _STRING, "scenario": _STRING,
        },
    },  # fmt: skip
    "DecisionsStreamResponse": {
        "type": "object",
        "required": ["new", "deleted"],
        "properties": {
            "new": {"type": "array", "items": _ref("BouncerDecision")},
            "deleted": {"type": "array", "items": _ref("BouncerDecision")},
        },
    },
    "DeleteResponse": {"type": "object", "properties": {"nbDeleted": _STRING}},
    "UsageMetrics": {
        "type": "object",
        "properties": {
            "remediation_components": {"type": "array", "items": {"type": "object"}},
            "log_processors": {"type": "array", "items": {"type": "object"}},
            "lapi": {"type": "object"},
        },
    },
}

_PATHS = {
    "/health": {"get": {"summary": "liveness", "responses": {"200": {"description": "up", "content": _json({"type": "object"})}}}},
    "/v1/watchers": {
        "post": {
            "summary": "register a machine (unvalidated unless auto-registration applies)",
            "requestBody": {"required": True, "content": _json(_ref("WatcherRegistrationRequest"))},
            "responses": {
                "201": {"description": "created"}, "202": {"description": "created and validated"},
                "400": _error("bad JSON"), "401": _error("auto-registration refused"),
                "403": _error("exists / remote registration disabled"), "413": _error("body too large"),
                "422": _error("validation failure"),
            },
        }
    },  # fmt: skip
    "/v1/watchers/login": {
        "post": {
            "summary": "machine login, returns a JWT",
            "requestBody": {"required": True, "content": _json(_ref("WatcherAuthRequest"))},
            "responses": {
                "200": {"description": "token", "content": _json(_ref("WatcherAuthResponse"))},
                "400": _error("bad JSON"), "401": _error("refused"), "413": _error("body too large"),
            },
        }
    },  # fmt: skip
    "/v1/watchers/self": {
        "delete": {"security": _MACHINE, "responses": {"204": {"description": "unregistered"}, "401": _error("auth")}}
    },
    "/v1/heartbeat": {"get": {"security": _MACHINE, "responses": {"200": {"description": "ok"}, "401": _error("auth")}}},
    "/v1/refresh_token": {
        "get": {
            "security": _MACHINE,
            "responses": {"200": {"description": "token", "content": _json(_ref("WatcherAuthResponse"))}, "401": _error("auth")},
        }
    },
    "/v1/alerts": {
        "post": {
            "security": _MACHINE,
            "requestBody": {"required": True, "content": _json({"type": "array", "items": _ref("Alert")})},
            "responses": {
                "201": {"description": "ids as strings", "content": _json({"type": "array", "items": _STRING})},
                "400": _error("bad JSON"), "401": _error("auth"), "413": _error("body too large"),
                "422": _error("validation failure"),
            },
        },
        "get": {
            "security": _MACHINE,
            "parameters": _ALERT_QUERY,
            "responses": {
                "200": {"description": "alerts or null", "content": _json({"type": "array", "items": _ref("Alert"), "nullable": True})},
                "400": _error("bad filter"), "401": _error("auth"),
            },
        },
        "delete": {
            "security": _MACHINE,
            "parameters": _ALERT_QUERY,
            "responses": {
                "200": {"description": "deleted", "content": _json(_ref("DeleteResponse"))},
                "400": _error("bad filter"), "401": _error("auth"), "403": _error("untrusted IP"),
            },
        },
    },  # fmt: skip
    "/v1/alerts/{alert_id}": {
        "get": {
            "security": _MACHINE,
            "parameters": [_path_id("alert_id")],
            "responses": {
                "200": {"description": "alert", "content": _json(_ref("Alert"))},
                "400": _error("not an integer"), "401": _error("auth"), "404": _error("not found"),
            },
        },
        "delete": {
            "security": _MACHINE,
            "parameters": [_path_id("alert_id")],
            "responses": {
                "200": {"description": "deleted", "content": _json(_ref("DeleteResponse"))},
                "400": _error("not an integer"), "401": _error("auth"), "403": _error("untrusted IP"),
                "404": _error("not found"),
            },
        },
    },  # fmt: skip
    "/v1/decisions": {
        "get": {
            "security": _BOUNCER,
            "parameters": _DECISION_QUERY,
            "responses": {
                "200": {"description": "active decisions or null",
                        "content": _json({"type": "array", "items": _ref("BouncerDecision"), "nullable": True})},
                "400": _error("bad filter"), "403": _error("access forbidden"),
            },
        },
        "delete": {
            "security": _MACHINE,
            "parameters": _DELETE_DECISION_QUERY,
            "responses": {
                "200": {"description": "expired", "content": _json(_ref("DeleteResponse"))},
                "400": _error("bad filter"), "401": _error("auth"),
            },
        },
    },  # fmt: skip
    "/v1/decisions/stream": {
        "get": {
            "security": _BOUNCER,
            "parameters": _DECISION_QUERY + [_query("startup", _BOOL_TEXT), _query("dedup", _BOOL_TEXT)],
            "responses": {
                "200": {"description": "new and deleted decisions", "content": _json(_ref("DecisionsStreamResponse"))},
                "400": _error("bad filter"), "403": _error("access forbidden"),
            },
        }
    },  # fmt: skip
    "/v1/decisions/{decision_id}": {
        "delete": {
            "security": _MACHINE,
            "parameters": [_path_id("decision_id")],
            "responses": {
                "200": {"description": "expired", "content": _json(_ref("DeleteResponse"))},
                "400": _error("not an integer"), "401": _error("auth"), "404": _error("not found"),
            },
        }
    },  # fmt: skip
    "/v1/usage-metrics": {
        "post": {
            "security": [{"APIKeyAuthorizer": []}, {"JWTAuthorizer": []}],
            "requestBody": {"required": True, "content": _json(_ref("UsageMetrics"))},
            "responses": {
                "201": {"description": "stored"}, "400": _error("wrong item count"), "401": _error("auth"),
                "403": _error("access forbidden"), "422": _error("validation failure"),
            },
        }
    },  # fmt: skip
}

_DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "crowdsec_mp Local API",
        "version": "1.0",
        "description": "CrowdSec v1 Local API, wire compatible. Errors are JSON {message[, code]}.",
    },
    "servers": [{"url": "/"}],
    "components": {
        "securitySchemes": {
            "APIKeyAuthorizer": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "JWTAuthorizer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        },
        "schemas": _SCHEMAS,
    },
    "paths": _PATHS,
}


def openapi_document() -> dict:
    """A fresh copy of the document (callers may mutate it)."""
    return copy.deepcopy(_DOCUMENT)
