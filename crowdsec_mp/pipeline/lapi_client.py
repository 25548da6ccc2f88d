"""The agent side of the LAPI protocol: machine login and alert push (spec/lapi.md §2, §5).

`LapiClient.push(alerts)` logs in when it has no token (POST /v1/watchers/login,
`{"machine_id", "password", "scenarios"}`), posts the alerts as a JSON array
to /v1/alerts, and logs in again once on 401/403 (tokens die when the LAPI
restarts). Any other failure raises `PushError`; retrying is the caller's job
(output.py retries with backoff and keeps alerts in its on-disk queue).
"""

from __future__ import annotations

from pathlib import Path

import requests
import yaml

from crowdsec_mp import __version__
from crowdsec_mp.errors import ConfigError, CrowdsecMPError

USER_AGENT = f"crowdsec-mp/v{__version__}"


class PushError(CrowdsecMPError):
    """The LAPI could not be reached or refused the alerts (retry later)."""


def load_credentials(path) -> dict:
    """local_api_credentials.yaml: url, login, password (all required)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"missing local API credentials for crowdsec agent: {exc.strerror or exc}",
                          file=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    if not isinstance(data, dict):
        raise ConfigError("must be a mapping with url, login, password", file=path)
    for key in ("url", "login", "password"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError("required (non-empty string)", file=path, field=key)
    return {"url": data["url"].rstrip("/") + "/", "login": data["login"], "password": data["password"]}


class LapiClient:
    def __init__(self, url: str, login: str, password: str, scenarios=(), timeout: float = 10.0,
                 verify: bool = True):
        self.url = url.rstrip("/") + "/"
        self.login = login
        self.password = password
        self.scenarios = list(scenarios)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.verify = verify
        self.token = ""

    def _login(self) -> None:
        body = {"machine_id": self.login, "password": self.password, "scenarios": self.scenarios}
        try:
            response = self.session.post(self.url + "v1/watchers/login", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PushError(f"login: {exc}") from exc
        if response.status_code != 200:
            raise PushError(f"login refused: HTTP {response.status_code} {response.text[:200]}")
        try:
            self.token = response.json()["token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PushError("login: no token in the answer") from exc

    def push(self, alerts: list) -> list:
        """POST the alerts; returns the created alert ids (strings)."""
        if not self.token:
            self._login()
        for attempt in (1, 2):
            try:
                response = self.session.post(
                    self.url + "v1/alerts", json=alerts, timeout=self.timeout,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
            except requests.RequestException as exc:
                raise PushError(f"push: {exc}") from exc
            if response.status_code in (401, 403) and attempt == 1:
                self._login()
                continue
            if response.status_code not in (200, 201):
                raise PushError(f"push refused: HTTP {response.status_code} {response.text[:200]}")
            try:
                return list(response.json() or [])
            except ValueError:
                return []
        return []
