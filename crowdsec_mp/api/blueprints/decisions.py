"""Decisions: bouncer queries and stream (API key), deletion (JWT) — spec §5."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from crowdsec_mp.api import auth, params, queries, wire
from crowdsec_mp.api.app import empty_response, json_response
from crowdsec_mp.api.errors import APIError, bad_request

blueprint = Blueprint("decisions", __name__)


def _state():
    return current_app.extensions["crowdsec_mp"]


@blueprint.get("/v1/decisions")
@auth.bouncer_required
def list_decisions():
    filt = params.decision_filter(request.args)
    if request.method == "HEAD":
        return empty_response(200)
    now = _state().now_us()
    rows = queries.active_decisions(filt, now)
    bouncer = g.bouncer
    if bouncer["last_pull"] is None or now - bouncer["last_pull"] >= auth.LAST_PULL_MIN_INTERVAL_US:
        queries.set_bouncer_last_pull(bouncer["id"], now)
    # Go returns a nil slice as null when nothing matches (spec §1).
    body = wire.bouncer_decisions_json(rows, now, with_uuid=False) if rows else "null"
    return Response(body, status=200, mimetype="application/json")


@blueprint.get("/v1/decisions/stream")
@auth.bouncer_required
def stream():
    filt = params.decision_filter(request.args, stream=True)
    if request.method == "HEAD":
        return empty_response(200)
    now = _state().now_us()
    bouncer = g.bouncer
    new_rows, deleted_rows = queries.stream_decisions(
        filt,
        startup=request.args.get("startup") == "true",
        last_pull=bouncer["last_pull"],
        now=now,
        dedup=request.args.get("dedup") != "false",
    )
    queries.set_bouncer_last_pull(bouncer["id"], now)
    if len(new_rows) + len(deleted_rows) <= wire.JSON_CHUNK_ROWS:
        body = (
            '{"new":' + wire.bouncer_decisions_json(new_rows, now, with_uuid=True)
            + ',"deleted":' + wire.bouncer_decisions_json(deleted_rows, now, with_uuid=True) + "}"
        )
        return Response(body, status=200, mimetype="application/json")
    # A snapshot (up to ~16 MB for 100k decisions) goes out chunked while it
    # is rendered, as CrowdSec streams it; every query and the last_pull
    # update are done above, so the generator needs neither DB nor request.
    return Response(_stream_body(new_rows, deleted_rows, now), status=200, mimetype="application/json")


def _stream_body(new_rows, deleted_rows, now):
    yield b'{"new":'
    for piece in wire.bouncer_decisions_json_chunks(new_rows, now, with_uuid=True):
        yield piece.encode()
    yield b',"deleted":'
    for piece in wire.bouncer_decisions_json_chunks(deleted_rows, now, with_uuid=True):
        yield piece.encode()
    yield b"}"


@blueprint.delete("/v1/decisions")
@auth.machine_required
def delete_decisions():
    filt = params.decision_delete_filter(request.args)
    count = queries.expire_decisions(filt, _state().now_us())
    return json_response({"nbDeleted": str(count)})


@blueprint.delete("/v1/decisions/<decision_id>")
@auth.machine_required
def delete_decision(decision_id):
    if not decision_id.isdigit() or len(decision_id) > 18:
        raise bad_request("decision_id must be valid integer")
    count = queries.expire_decision(int(decision_id), _state().now_us())
    if not count:
        raise APIError(404, f"decision with id '{decision_id}' doesn't exist: unable to delete")
    return json_response({"nbDeleted": str(count)})
