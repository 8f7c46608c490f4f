"""A few OpenStack API calls for labctl (Python standard library only).

labctl runs with Debian's python3, which has no openstacksdk; the openstack CLI costs ~2 s of
CPU per call (imports). What labctl polls while it waits (compute services, hypervisors) goes
through this small client instead: one keystone token (password auth, as clouds.yaml's
lab-admin), then plain HTTP calls, ~20 ms each.
"""

import json
import urllib.error
import urllib.request


class ApiError(Exception):
    pass


class Api:
    def __init__(self, auth_url, username, password, project, timeout=10):
        self.auth_url = auth_url.rstrip("/")
        self.creds = (username, password, project)
        self.timeout = timeout
        self.token = None
        self.catalog = {}
        # no proxy: the lab's endpoints are on its own network
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _request(self, method, url, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json", **(headers or {})})
        try:
            with self.opener.open(req, timeout=self.timeout) as r:
                raw = r.read()
                return r.status, dict(r.headers), (json.loads(raw) if raw else {})
        except urllib.error.HTTPError as e:
            raise ApiError(f"{method} {url} -> HTTP {e.code}: {e.read()[:500]!r}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ApiError(f"{method} {url}: {e}") from None

    def login(self):
        user, password, project = self.creds
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
        _, headers, data = self._request("POST", f"{self.auth_url}/v3/auth/tokens", body)
        self.token = headers.get("X-Subject-Token")
        self.catalog = {
            s["type"]: next((e["url"] for e in s["endpoints"] if e["interface"] == "public"), None)
            for s in data["token"].get("catalog", [])}

    def get(self, service_type, path, microversion=None):
        if self.token is None or not self.catalog.get(service_type):
            self.login()
        base = self.catalog.get(service_type)
        if not base:
            raise ApiError(f"no {service_type} endpoint in the catalog")
        headers = {"X-Auth-Token": self.token}
        if microversion:
            headers["OpenStack-API-Version"] = f"{service_type} {microversion}"
        return self._request("GET", base.rstrip("/") + path, headers=headers)[2]
