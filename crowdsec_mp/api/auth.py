"""Authentication as CrowdSec's LAPI does it (spec/lapi.md §2).

* Bouncers: `X-Api-Key`, stored as the SHA-512 hex of the key (no salt), looked
  up by hash; a key used from a new IP gets an auto-created `<name>@<ip>` row
  with its own last_pull. Any failure is `403 {"message":"access forbidden"}`.
* Machines: bcrypt passwords (cost 10 = Go's bcrypt.DefaultCost), HS256 JWT
  `{"id", "exp", "orig_iat"}` valid 1 h; failures are 401 with
  `{"code": 401, "message": ...}`.
* trusted_ips guard the DELETE /v1/alerts routes.

The handlers get the identity through the `machine_required` /
`bouncer_required` decorators, which store it in `flask.g`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import os
import secrets

import bcrypt
import jwt
from flask import current_app, g, request

from crowdsec_mp.api import queries
from crowdsec_mp.api.errors import APIError, forbidden, jwt_unauthorized

BCRYPT_ROUNDS = 10
TOKEN_LIFETIME_S = 3600
SECRET_ENV = "CS_LAPI_SECRET"
LAST_PULL_MIN_INTERVAL_US = 60 * 1_000_000


def generate_api_key() -> str:
    """32 random bytes, standard base64 without the trailing '=' (43 chars)."""
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def hash_api_key(key: str) -> str:
    return hashlib.sha512(key.encode("utf-8", "surrogatepass")).hexdigest()


#: bcrypt only uses 72 bytes; longer passwords are refused, as Go's bcrypt does.
PASSWORD_MAX_BYTES = 72


def password_problem(password: str) -> str | None:
    """Why `password` cannot be stored, or None when it can."""
    if len(password.encode("utf-8", "surrogatepass")) > PASSWORD_MAX_BYTES:
        return f"password should be at most {PASSWORD_MAX_BYTES} bytes long"
    return None


def hash_password(password: str) -> str:
    """bcrypt hash; call password_problem() first (ValueError otherwise)."""
    return bcrypt.hashpw(password.encode("utf-8", "surrogatepass"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8", "surrogatepass"), hashed.encode())
    except ValueError:
        return False


def jwt_secret() -> bytes:
    """$CS_LAPI_SECRET when set (>= 64 bytes), else 64 random bytes per start."""
    configured = os.environ.get(SECRET_ENV, "")
    if configured:
        if len(configured.encode()) < 64:
            raise ValueError(f"{SECRET_ENV} must be at least 64 bytes long")
        return configured.encode()
    return secrets.token_bytes(64)


def issue_token(machine_id: str, secret: bytes, now_s: int) -> tuple[str, int]:
    expire = now_s + TOKEN_LIFETIME_S
    token = jwt.encode({"id": machine_id, "exp": expire, "orig_iat": now_s}, secret, algorithm="HS256")
    return token, expire


def decode_token(token: str, secret: bytes, now_s: int) -> dict:
    """Claims of a valid token; raises APIError(401) otherwise.

    Expiry is checked against the app clock (not PyJWT's wall clock) so that
    tests with a fixed clock behave like production.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.InvalidTokenError as exc:
        raise jwt_unauthorized(str(exc) or "invalid token") from None
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise jwt_unauthorized("missing exp field")
    if exp < now_s:
        raise jwt_unauthorized("Token is expired")
    if not isinstance(claims.get("id"), str) or not claims["id"]:
        raise jwt_unauthorized("missing id claim")
    return claims


def split_user_agent(user_agent: str) -> tuple[str, str] | None:
    """(type, version) for `name/version` with exactly one '/', else None."""
    parts = user_agent.split("/")
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


# -- client IP --------------------------------------------------------------------


def in_networks(ip_text: str, networks) -> bool:
    try:
        address = ipaddress.ip_address(ip_text)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


def client_ip() -> str:
    """Peer address; forwarded headers only from configured trusted proxies."""
    return client_ip_of(request.remote_addr or "", request.headers, current_app.extensions["crowdsec_mp"].settings)


def client_ip_of(peer: str, headers, settings) -> str:
    """client_ip() for a peer address and request headers (anything with .get)."""
    if settings.use_forwarded_for_headers and in_networks(peer, settings.trusted_proxies):
        forwarded = headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
        real = headers.get("X-Real-IP", "")
        if real:
            return real.strip()
    return peer


def is_loopback(ip_text: str) -> bool:
    try:
        address = ipaddress.ip_address(ip_text)
    except ValueError:
        return ip_text == ""  # unix socket peers have no address
    return address.is_loopback or bool(address.version == 6 and address.ipv4_mapped and address.ipv4_mapped.is_loopback)


def require_trusted_ip():
    ip = client_ip()
    if is_loopback(ip):
        return
    if not in_networks(ip, current_app.extensions["crowdsec_mp"].settings.trusted_ips):
        raise forbidden(f"access forbidden from this IP ({ip})")


# -- decorators ---------------------------------------------------------------------


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.cookies.get("jwt", "")


def authenticate_machine() -> dict:
    state = current_app.extensions["crowdsec_mp"]
    token = _bearer_token()
    if not token:
        raise jwt_unauthorized("cookie token is empty")
    claims = decode_token(token, state.jwt_secret, int(state.now_us() // 1_000_000))
    machine = queries.get_machine(claims["id"])
    if machine is None:
        raise jwt_unauthorized("machine not found")
    if not machine.is_validated:
        raise jwt_unauthorized(f"machine {machine.machine_id} not validated")
    return {"pk": machine.id, "machine_id": machine.machine_id}


def machine_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.machine = authenticate_machine()
        return view(*args, **kwargs)

    return wrapper


def _usable(rows: list[dict]) -> list[dict]:
    return [b for b in rows if b["auth_type"] == "api-key" and not b["revoked"]]


def _user_agent_fields(headers) -> tuple[str, str]:
    """(type, version) recorded for this request's User-Agent (spec §2.1 step 5)."""
    user_agent = headers.get("User-Agent", "")
    return split_user_agent(user_agent) or (user_agent, "N/A")


class BouncerWriteNeeded(Exception):
    """authenticate_bouncer_of(may_write=False) would have to write a bouncer row."""


def authenticate_bouncer(*, update: bool = True, recent_rows: bool = False) -> dict:
    """The bouncer row for this request's X-Api-Key (spec §2.1); 403 otherwise.

    With update=False (HEAD requests) only checks that the key exists.
    With recent_rows=True the key's rows may come from the short-lived
    cache of queries.recently_seen_bouncers_with_key (so last_pull may lag
    writes of other processes); whenever the request has to write the
    bouncer row (new IP, new User-Agent), the rows are read afresh first.
    """
    return authenticate_bouncer_of(
        request.headers, request.remote_addr or "", current_app.extensions["crowdsec_mp"],
        update=update, recent_rows=recent_rows,
    )  # fmt: skip


def authenticate_bouncer_of(headers, peer: str, state, *, update=True, recent_rows=False, may_write=True) -> dict:
    """authenticate_bouncer() for explicit request headers (anything with .get) and peer address.

    With may_write=False, raises BouncerWriteNeeded instead of writing (the
    caller then handles the request the ordinary way).
    """
    key = headers.get("X-Api-Key", "")
    if not key:
        raise forbidden()
    key_hash = hash_api_key(key)
    if recent_rows:
        candidates = _usable(queries.recently_seen_bouncers_with_key(key_hash))
        if candidates and update:
            ip = client_ip_of(peer, headers, state.settings)
            bouncer = next((b for b in candidates if b["ip_address"] == ip), None)
            if bouncer is not None and (bouncer["type"], bouncer["version"]) == _user_agent_fields(headers):
                return bouncer
        elif candidates:
            return candidates[0]
        # A write may be due (or the key is unknown): decide on fresh rows.
    candidates = _usable(queries.bouncers_with_key(key_hash))
    if not candidates:
        raise forbidden()
    if not update:
        return candidates[0]
    ip = client_ip_of(peer, headers, state.settings)
    bouncer = next((b for b in candidates if b["ip_address"] == ip), None)
    agent = _user_agent_fields(headers)
    if not may_write and (bouncer is None or (bouncer["type"], bouncer["version"]) != agent):
        raise BouncerWriteNeeded()
    now = state.now_us()
    if bouncer is None and len(candidates) == 1 and not candidates[0]["ip_address"]:
        bouncer = candidates[0]
        queries.update_bouncer(bouncer["id"], now, ip_address=ip)
        bouncer["ip_address"] = ip
    if bouncer is None:
        base_name = candidates[0]["name"].split("@")[0]
        bouncer = queries.create_bouncer(f"{base_name}@{ip}", key_hash, now, ip_address=ip, auto_created=True)
        if bouncer is None:  # another request created it meanwhile
            bouncer = next(b for b in queries.bouncers_with_key(key_hash) if b["name"] == f"{base_name}@{ip}")
    if (bouncer["type"], bouncer["version"]) != agent:
        queries.update_bouncer(bouncer["id"], now, type=agent[0][:255], version=agent[1][:255])
    return bouncer


def bouncer_required(view=None, *, recent_rows: bool = False):
    """Decorator: authenticate the bouncer into `g.bouncer` (see authenticate_bouncer).

    `@bouncer_required(recent_rows=True)` accepts rows up to
    queries.BOUNCER_KEY_CACHE_TTL_S old (routes that do not need an exact
    last_pull).
    """
    if view is None:
        return functools.partial(bouncer_required, recent_rows=recent_rows)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.bouncer = authenticate_bouncer(update=request.method != "HEAD", recent_rows=recent_rows)
        return view(*args, **kwargs)

    return wrapper


def machine_or_bouncer_required(view):
    """For POST /v1/usage-metrics: a bouncer key or a machine JWT."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.machine = g.bouncer = None
        if request.headers.get("X-Api-Key"):
            g.bouncer = authenticate_bouncer()
        elif _bearer_token():
            g.machine = authenticate_machine()
        else:
            raise APIError(401, "no authentication provided", code=401)
        return view(*args, **kwargs)

    return wrapper
