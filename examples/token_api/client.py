"""A script client of the token API: login, call the API, refresh, logout.

Run ``flask --app examples/token_api/app.py run`` first, then::

    python examples/token_api/client.py [--url http://127.0.0.1:5000]

It exits with status 0 when every step answered as expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import requests

TIMEOUT = 10


class Client:
    """What an SPA or a mobile app does: keep the pair, send the bearer, rotate on refresh."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.auth = f"{self.url}/api/auth"
        self.http = requests.Session()
        self.token: str | None = None
        self.refresh_token: str | None = None

    def keep(self, response: requests.Response) -> dict[str, Any]:
        """Keep the ``{"token", "refreshToken", "expiresIn"}`` of a login or refresh."""
        response.raise_for_status()
        pair: dict[str, Any] = response.json()
        self.token, self.refresh_token = pair["token"], pair["refreshToken"]
        return pair

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def login(self, username: str, password: str) -> dict[str, Any]:
        body = {"username": username, "password": password}
        return self.keep(self.http.post(f"{self.auth}/token/login", json=body, timeout=TIMEOUT))

    def me(self) -> requests.Response:
        # Accept: JSON, so that a refusal is a 401 JSON body, not a redirect to a sign-in page.
        headers = {**self._bearer(), "Accept": "application/json"}
        return self.http.get(f"{self.url}/api/me", headers=headers, timeout=TIMEOUT)

    def refresh(self, refresh_token: str | None = None) -> requests.Response:
        body = {"refreshToken": refresh_token or self.refresh_token}
        return self.http.post(f"{self.auth}/token/refresh", json=body, timeout=TIMEOUT)

    def logout(self) -> requests.Response:
        # As nuxt-auth's local provider does: the refresh token in the body, the bearer too.
        body = {"refreshToken": self.refresh_token}
        url = f"{self.auth}/token/logout"
        return self.http.post(url, json=body, headers=self._bearer(), timeout=TIMEOUT)


def short(token: str | None) -> str:
    return f"{token[:16]}...({len(token)} chars)" if token else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="the Flask app")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo-password")
    args = parser.parse_args(argv)
    client = Client(args.url)
    checks: list[bool] = []

    def step(title: str, ok: bool, detail: object) -> None:
        checks.append(ok)
        print(f"{'ok ' if ok else 'BAD'} {title}: {detail}")

    try:
        pair = client.login(args.username, args.password)
    except requests.RequestException as error:
        print(f"BAD login: {error}")
        return 1
    step("login", True, f"token {short(client.token)}, expires in {pair['expiresIn']} s")

    me = client.me()
    step("GET /api/me with the bearer", me.status_code == 200, me.json())

    first_refresh_token = client.refresh_token
    refreshed = client.refresh()
    ok = refreshed.status_code == 200
    if ok:
        client.keep(refreshed)
    step("refresh", ok, f"new refresh token {short(client.refresh_token)}")
    again = client.me()
    step("GET /api/me with the new token", again.status_code == 200, again.status_code)

    out = client.logout()
    step("logout", out.status_code == 200, out.json())

    refused = client.refresh()
    step("refresh after logout is refused", refused.status_code == 401, refused.json())
    spent = client.refresh(first_refresh_token)
    step("the spent refresh token is refused too", spent.status_code == 401, spent.json())
    # The access token is a signed JWT: it stays valid until it expires (AUTH_TOKEN_MAX_AGE).
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
