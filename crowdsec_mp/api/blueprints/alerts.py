"""Alerts: push (agents, cscli), search, inspect, delete — spec §6, alerts.md §4."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, request

from crowdsec_mp.api import auth, params, queries, wire
from crowdsec_mp.api.app import empty_response, json_response, read_json_body
from crowdsec_mp.api.errors import APIError, bad_request
from crowdsec_mp.api.profiles import ProfileError, decisions_for_alert

log = logging.getLogger(__name__)
blueprint = Blueprint("alerts", __name__)


def _state():
    return current_app.extensions["crowdsec_mp"]


@blueprint.post("/v1/alerts")
@auth.machine_required
def push_alerts():
    body = read_json_body()
    alerts = wire.validate_alerts(body)
    state = _state()
    now = state.now_us()
    prepared = []
    for alert in alerts:
        wire.normalize_alert(alert)
        if alert.get("decisions"):
            # Decisions given by the sender (cscli, imports) are stored as given.
            decisions = alert["decisions"]
        else:
            try:
                decisions = decisions_for_alert(state.profiles, alert, now)
            except ProfileError as exc:
                # A profile bug, not bad input: CrowdSec answers 500 too (spec §6).
                raise APIError(500, str(exc)) from None
        row = wire.new_alert(alert, decisions, now)
        if row is not None:
            prepared.append(row)
            for line in wire.alert_log_lines(g.machine["machine_id"], alert, decisions):
                log.info("%s", line)
        else:
            log.info("alert %r dropped: none of its decisions has a valid ip/range value", alert["scenario"])
    ids = queries.insert_alerts(prepared, g.machine["pk"], now)
    return json_response([str(alert_id) for alert_id in ids], 201)


@blueprint.get("/v1/alerts")
@auth.machine_required
def search_alerts():
    now = _state().now_us()
    filt = params.alert_filter(request.args, now)
    if request.method == "HEAD":
        return empty_response(200)
    rows = queries.search_alerts(filt, now)
    return json_response([wire.render_alert(row, now) for row in rows] or None)


def _alert_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise bad_request("alert_id must be valid integer")
    return int(text)


@blueprint.get("/v1/alerts/<alert_id>")
@auth.machine_required
def get_alert(alert_id):
    row = queries.get_alert(_alert_id(alert_id))
    if row is None:
        raise APIError(404, "object not found")
    if request.method == "HEAD":
        return empty_response(200)
    return json_response(wire.render_alert(row, _state().now_us()))


@blueprint.delete("/v1/alerts")
@auth.machine_required
def delete_alerts():
    auth.require_trusted_ip()
    now = _state().now_us()
    filt = params.alert_filter(request.args, now)
    return json_response({"nbDeleted": str(queries.delete_alerts(filt, now))})


@blueprint.delete("/v1/alerts/<alert_id>")
@auth.machine_required
def delete_alert(alert_id):
    auth.require_trusted_ip()
    deleted = queries.delete_alert(_alert_id(alert_id))
    if not deleted:
        raise APIError(404, "object not found")
    return json_response({"nbDeleted": str(deleted)})
