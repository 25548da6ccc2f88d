"""Machines: register, login (JWT), refresh, heartbeat, unregister (spec §2.2, §4)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, g, request

from crowdsec_mp.api import auth, queries
from crowdsec_mp.api.app import UNAUTHENTICATED_BODY_LIMIT, empty_response, json_response, read_json_body
from crowdsec_mp.api.errors import APIError, forbidden, jwt_unauthorized

blueprint = Blueprint("watchers", __name__)


def _state():
    return current_app.extensions["crowdsec_mp"]


def _credentials(body, *, status: int, jwt_style: bool) -> tuple[str, str]:
    """machine_id + password from a body; `status` error when missing/wrong type."""
    problems = []
    if not isinstance(body, dict):
        problems.append("body in body must be of type object")
        body = {}
    for name in ("machine_id", "password"):
        if name not in body or body[name] is None:
            problems.append(f"{name} in body is required")
        elif not isinstance(body[name], str):
            problems.append(f"{name} in body must be of type string")
        elif not body[name]:
            problems.append(f"{name} in body should be at least 1 chars long")
    if problems:
        message = "validation failure list:\n" + "\n".join(problems)
        raise jwt_unauthorized(message) if jwt_style else APIError(status, message)
    return body["machine_id"], body["password"]


@blueprint.post("/v1/watchers")
def register():
    body = read_json_body(UNAUTHENTICATED_BODY_LIMIT)
    machine_id, password = _credentials(body, status=422, jwt_style=False)
    if len(machine_id) > 255:
        raise APIError(422, "validation failure list:\nmachine_id in body should be at most 255 chars long")
    problem = auth.password_problem(password)
    if problem:
        raise APIError(422, f"validation failure list:\n{problem}")
    token = body.get("registration_token")
    if token is not None and (not isinstance(token, str) or not 32 <= len(token) <= 255):
        raise APIError(422, "validation failure list:\nregistration_token in body should be a string of 32 to 255 chars")
    state = _state()
    settings = state.settings
    ip = auth.client_ip()
    if settings.disable_remote_lapi_registration and not auth.is_loopback(ip):
        raise forbidden()
    validated = False
    if settings.auto_registration_enabled and token is not None:
        if token != settings.auto_registration_token:
            raise APIError(401, "invalid token for auto registration")
        if not auth.in_networks(ip, settings.auto_registration_ranges):
            raise APIError(401, "IP not in allowed range for auto registration")
        validated = True
    created = queries.create_machine(
        machine_id, auth.hash_password(password), ip_address=ip, validated=validated, now=state.now_us()
    )
    if not created:
        raise forbidden(f"user '{machine_id}': user already exist")
    return empty_response(202 if validated else 201)


def _token_response(machine_id: str):
    state = _state()
    token, expire = auth.issue_token(machine_id, state.jwt_secret, int(state.clock()))
    expire_text = datetime.fromtimestamp(expire, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json_response({"code": 200, "expire": expire_text, "token": token})


@blueprint.post("/v1/watchers/login")
def login():
    body = read_json_body(UNAUTHENTICATED_BODY_LIMIT)
    machine_id, password = _credentials(body, status=401, jwt_style=True)
    scenarios = body.get("scenarios")
    if scenarios is not None and (not isinstance(scenarios, list) or not all(isinstance(s, str) for s in scenarios)):
        raise jwt_unauthorized("validation failure list:\nscenarios in body must be of type array of strings")
    agent = auth.split_user_agent(request.headers.get("User-Agent", ""))
    machine = queries.get_machine(machine_id)
    if machine is None:
        raise jwt_unauthorized("ent: machine not found")
    if agent is None or not auth.check_password(password, machine.password):
        raise jwt_unauthorized("incorrect Username or Password")
    if not machine.is_validated:
        raise jwt_unauthorized(f"machine {machine_id} not validated")
    changes = {"ip_address": auth.client_ip(), "version": agent[1][:255]}
    if scenarios:
        changes["scenarios"] = ",".join(scenarios)
    queries.update_machine(machine_id, _state().now_us(), **changes)
    return _token_response(machine_id)


@blueprint.get("/v1/refresh_token")
@auth.machine_required
def refresh_token():
    return _token_response(g.machine["machine_id"])


@blueprint.get("/v1/heartbeat")
@auth.machine_required
def heartbeat():
    now = _state().now_us()
    queries.update_machine(g.machine["machine_id"], now, last_heartbeat=now)
    return empty_response(200)


@blueprint.delete("/v1/watchers/self")
@auth.machine_required
def unregister():
    queries.delete_machine(g.machine["machine_id"])
    return empty_response(204)
