"""HTTP client of our Local API for `cscli-mp` (decisions, alerts, lapi).

`client_from_args(args)` reads config.yaml (`-c`), then the machine
credentials file it names (`api.client.credentials_path`: YAML `url`, `login`,
`password`), and returns a `LapiClient` that logs in on first use via
`POST /v1/watchers/login` and sends the JWT on every request.

Every failure becomes one CrowdsecMPError line for the operator:
  * ApiUnreachable: `cannot reach the Local API at <url>: <reason>`,
  * ApiError:       `API error: <message from the LAPI>` (status kept in `.status`),
  * ConfigError:    bad/missing credentials file, naming the file and field.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urljoin

import requests
import yaml

from crowdsec_mp import __version__
from crowdsec_mp.config import load_config
from crowdsec_mp.errors import ConfigError, CrowdsecMPError

#: The LAPI rejects logins whose User-Agent is not exactly `name/version`.
USER_AGENT = f"cscli-mp/v{__version__}"
DEFAULT_TIMEOUT = 10.0


class ApiUnreachable(CrowdsecMPError):
    """The Local API could not be contacted at all (refused, DNS, timeout)."""


class ApiError(CrowdsecMPError):
    """The Local API answered with an error status."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.api_message = message
        super().__init__(f"API error: {message}")


def load_credentials(path) -> dict:
    """`{"url", "login", "password"}` from a local_api_credentials.yaml file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read API credentials: {exc.strerror or exc}", file=path) from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping with url, login, password", file=path)
    credentials = {}
    for key in ("url", "login", "password"):
        value = data.get(key)
        if value in (None, ""):
            raise ConfigError("is required", file=path, field=key)
        credentials[key] = str(value)
    if not credentials["url"].startswith(("http://", "https://")):
        raise ConfigError(f"must start with http:// or https://, got {credentials['url']!r}", file=path, field="url")
    return credentials


def write_credentials(target: str, *, url: str, login: str, password: str) -> bool:
    """Write a credentials file (`-` = stdout) as cscli does; mode 0600.

    Returns True when a file was written (the caller then says where).
    """
    text = yaml.safe_dump({"url": url, "login": login, "password": password}, sort_keys=False)
    if target == "-":
        sys.stdout.write(text)
        return False
    try:
        Path(target).write_text(text, encoding="utf-8")
        Path(target).chmod(0o600)
    except OSError as exc:
        raise CrowdsecMPError(f"cannot write credentials to '{target}': {exc.strerror or exc}") from None
    return True


def credentials_path_of(config) -> Path:
    """`api.client.credentials_path` of a Config, resolved against its directory."""
    api = config.section("api")
    client = api.get("client") or {}
    if not isinstance(client, dict):
        raise ConfigError("must be a mapping", file=config.path, field="api.client")
    path = config.resolve(client.get("credentials_path"))
    if path is None:
        raise ConfigError("is required to talk to the Local API", file=config.path, field="api.client.credentials_path")
    return path


def _error_message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    text = response.text.strip()
    return text or f"HTTP {response.status_code}"


class LapiClient:
    """A logged-in machine session on the Local API at `url`."""

    def __init__(self, url: str, login: str, password: str, *, timeout: float = DEFAULT_TIMEOUT,
                 verify_tls: bool = True):
        self.url = url if url.endswith("/") else url + "/"
        self.login_name = login
        self.password = password
        self.timeout = timeout
        self.token: str | None = None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.verify = verify_tls

    def _send(self, method: str, path: str, **kwargs):
        target = urljoin(self.url, path.lstrip("/"))
        try:
            return self.session.request(method, target, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            reason = exc.__class__.__name__
            if isinstance(exc, requests.exceptions.SSLError):
                reason = f"TLS error: {exc}"
            elif isinstance(exc, requests.ConnectionError):
                reason = "connection refused or host unreachable"
            elif isinstance(exc, requests.Timeout):
                reason = f"no answer within {self.timeout:g}s"
            raise ApiUnreachable(f"cannot reach the Local API at {self.url}: {reason}") from exc

    def login(self) -> None:
        """Obtain a JWT; ApiError (e.g. `incorrect Username or Password`) on refusal."""
        response = self._send(
            "POST", "v1/watchers/login", json={"machine_id": self.login_name, "password": self.password}
        )
        if response.status_code != 200:
            raise ApiError(response.status_code, _error_message(response))
        try:
            self.token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(response.status_code, "login answer carries no token") from None

    def register(self, token: str | None = None) -> int:
        """`POST /v1/watchers` for this login/password; returns the status (201, 202)."""
        body = {"machine_id": self.login_name, "password": self.password}
        if token:
            body["registration_token"] = token
        response = self._send("POST", "v1/watchers", json=body)
        if response.status_code >= 300:
            raise ApiError(response.status_code, _error_message(response))
        return response.status_code

    def request(self, method: str, path: str, *, params=None, json_body=None):
        """The decoded JSON answer (None for an empty body); ApiError on status >= 300.

        A 401 (token expired, LAPI restarted with a new secret) triggers one
        re-login and retry, as CrowdSec's clients do.
        """
        if self.token is None:
            self.login()
        response = None
        for attempt in range(2):
            response = self._send(
                method, path, params=params, json=json_body, headers={"Authorization": f"Bearer {self.token}"}
            )
            if response.status_code == 401 and attempt == 0:
                self.login()
                continue
            break
        if response.status_code >= 300:
            raise ApiError(response.status_code, _error_message(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, f"answer is not JSON: {response.text[:200]!r}") from None


def client_from_config(config, *, url: str | None = None) -> tuple[LapiClient, Path]:
    """A client from the credentials file named by `config`; also returns that path."""
    path = credentials_path_of(config)
    credentials = load_credentials(path)
    client_section = config.section("api").get("client") or {}
    verify_tls = not client_section.get("insecure_skip_verify", False)
    client = LapiClient(url or credentials["url"], credentials["login"], credentials["password"], verify_tls=verify_tls)
    return client, path


def client_from_args(args) -> LapiClient:
    client, _ = client_from_config(load_config(getattr(args, "config", None)))
    return client
