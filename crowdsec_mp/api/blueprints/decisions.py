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
# Live bouncers authenticate the same key for every lookup: its rows may be
# a few seconds old (last_pull is only written once a minute here anyway).
@auth.bouncer_required(recent_rows=True)
def list_decisions():
    filt = params.decision_filter(request.args)
    if request.method == "HEAD":
        return empty_response(200)
    return Response(decisions_body(filt, g.bouncer, _state()), status=200, mimetype="application/json")


def decisions_body(filt, bouncer: dict, state) -> str:
    """The JSON body of GET /v1/decisions for an authenticated bouncer.

    Shared by the Flask view and fastpath.py, so both answer alike.
    """
    now = state.now_us()
    rows = queries.active_decisions(filt, now)
    if bouncer["last_pull"] is None or now - bouncer["last_pull"] >= auth.LAST_PULL_MIN_INTERVAL_US:
        queries.set_bouncer_last_pull(bouncer["id"], now)
    # Go returns a nil slice as null when nothing matches (spec §1).
    return wire.bouncer_decisions_json(rows, now, with_uuid=False) if rows else "null"


@blueprint.get("/v1/decisions/stream")
@auth.bouncer_required
def stream():
    filt = params.decision_filter(request.args, stream=True)
    if request.method == "HEAD":
        return empty_response(200)
    args = request.args
    body = stream_body(filt, g.bouncer, _state(), startup=args.get("startup") == "true", dedup=args.get("dedup") != "false")
    return Response(body, status=200, mimetype="application/json")


def stream_body(filt, bouncer: dict, state, *, startup: bool, dedup: bool):
    """The body of GET /v1/decisions/stream: a str, or an iterator of bytes
    for a large one (sent chunked). Updates the bouncer's last_pull.

    Shared by the Flask view and fastpath.py, so both answer alike.
    """
    now = state.now_us()
    new_rows, deleted_rows = queries.stream_decisions(
        filt, startup=startup, last_pull=bouncer["last_pull"], now=now, dedup=dedup
    )
    queries.set_bouncer_last_pull(bouncer["id"], now)
    if len(new_rows) + len(deleted_rows) <= wire.JSON_CHUNK_ROWS:
        return (
            '{"new":' + wire.bouncer_decisions_json(new_rows, now, with_uuid=True)
            + ',"deleted":' + wire.bouncer_decisions_json(deleted_rows, now, with_uuid=True) + "}"
        )
    # A snapshot (up to ~16 MB for 100k decisions) goes out chunked while it
    # is rendered, as CrowdSec streams it; every query and the last_pull
    # update are done above, so the generator needs neither DB nor request.
    return _stream_chunks(new_rows, deleted_rows, now)


def _stream_chunks(new_rows, deleted_rows, now):
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
