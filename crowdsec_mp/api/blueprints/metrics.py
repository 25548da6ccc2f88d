"""POST /v1/usage-metrics (spec §7): validated, stored, 201 empty body."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from crowdsec_mp.api import auth, queries
from crowdsec_mp.api.app import empty_response, read_json_body
from crowdsec_mp.api.errors import APIError, bad_request

blueprint = Blueprint("metrics", __name__)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate_item(item, prefix: str, problems: list):
    if not isinstance(item, dict):
        problems.append(f"{prefix} in body must be of type object")
        return
    if not isinstance(item.get("version"), str):
        problems.append(f"{prefix}.version in body is required")
    if not _is_int(item.get("utc_startup_timestamp")):
        problems.append(f"{prefix}.utc_startup_timestamp in body is required")
    for key in ("name", "type"):
        if item.get(key) is not None and not isinstance(item[key], str):
            problems.append(f"{prefix}.{key} in body must be of type string")
    if "os" in item and item["os"] is not None:
        os_info = item["os"]
        if not isinstance(os_info, dict) or not isinstance(os_info.get("name"), str) or not isinstance(os_info.get("version"), str):
            problems.append(f"{prefix}.os in body must have string name and version")
    if item.get("feature_flags") is not None and (
        not isinstance(item["feature_flags"], list) or not all(isinstance(f, str) for f in item["feature_flags"])
    ):
        problems.append(f"{prefix}.feature_flags in body must be of type array of strings")
    metrics = item.get("metrics")
    if metrics is None:
        return
    if not isinstance(metrics, list):
        problems.append(f"{prefix}.metrics in body must be of type array")
        return
    for index, metric in enumerate(metrics):
        where = f"{prefix}.metrics.{index}"
        if not isinstance(metric, dict):
            problems.append(f"{where} in body must be of type object")
            continue
        meta = metric.get("meta")
        if not isinstance(meta, dict) or not _is_int(meta.get("window_size_seconds")) or not _is_int(meta.get("utc_now_timestamp")):
            problems.append(f"{where}.meta in body is required (window_size_seconds, utc_now_timestamp)")
        items = metric.get("items")
        if not isinstance(items, list):
            problems.append(f"{where}.items in body is required")
            continue
        for i_index, value in enumerate(items):
            item_where = f"{where}.items.{i_index}"
            if (
                not isinstance(value, dict)
                or not isinstance(value.get("name"), str)
                or not _is_number(value.get("value"))
                or not isinstance(value.get("unit"), str)
            ):
                problems.append(f"{item_where} in body requires name (string), value (number), unit (string)")
            elif value.get("labels") is not None and (
                not isinstance(value["labels"], dict) or not all(isinstance(v, str) for v in value["labels"].values())
            ):
                problems.append(f"{item_where}.labels in body must be a string map")


@blueprint.post("/v1/usage-metrics")
@auth.machine_or_bouncer_required
def usage_metrics():
    body = read_json_body()
    if not isinstance(body, dict):
        raise APIError(422, "validation failure list:\nbody in body must be of type object")
    problems = []
    sections = {}
    for key in ("remediation_components", "log_processors"):
        value = body.get(key)
        if value is None:
            value = []
        if not isinstance(value, list):
            problems.append(f"{key} in body must be of type array")
            value = []
        for index, item in enumerate(value):
            _validate_item(item, f"{key}.{index}", problems)
        sections[key] = value
    if body.get("lapi") is not None and not isinstance(body["lapi"], dict):
        problems.append("lapi in body must be of type object")
    if problems:
        raise APIError(422, "validation failure list:\n" + "\n".join(problems))
    rc, lp = sections["remediation_components"], sections["log_processors"]
    if g.bouncer is not None:
        if len(rc) > 1:
            raise bad_request("Payload has more than one remediation component")
        if len(rc) != 1 or lp:
            raise bad_request("Payload must contain exactly one remediation component and no log processor")
        queries.store_usage_metrics("RC", g.bouncer["name"], rc[0], current_app.extensions["crowdsec_mp"].now_us())
    else:
        if len(lp) > 1:
            raise bad_request("Payload has more than one log processor")
        if len(lp) != 1 or rc:
            raise bad_request("Payload must contain exactly one log processor and no remediation component")
        queries.store_usage_metrics("LP", g.machine["machine_id"], lp[0], current_app.extensions["crowdsec_mp"].now_us())
    return empty_response(201)
