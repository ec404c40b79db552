"""RFC 7662 interop: Authlib's OAuth 2.0 client introspects tokens at an example server.

Run by tests/tests/introspection.rs (`pip install authlib requests`). Reads BASE_URL,
CLIENT_ID, CLIENT_SECRET and the tokens to ask about from the environment; the first argument
says which checks to run: `live` (a live token, a revoked one, a refresh token, garbage, wrong
and missing client credentials) or `expired` (the live token again, after the server's clock
moved past its expiry). Prints `authlib: all checks passed` and exits 0 when every check
holds; otherwise an assertion names what failed.
"""

import os
import sys

# Authlib refuses plain http unless told: the example server runs on loopback.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402

BASE_URL = os.environ["BASE_URL"]
URL = BASE_URL + "/introspect"
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]


def client(secret=CLIENT_SECRET):
    # client_secret_basic: RFC 6749 §2.3.1, the id and secret form-encoded in HTTP Basic.
    return OAuth2Session(
        CLIENT_ID, secret, token_endpoint_auth_method="client_secret_basic"
    )


def introspect(token, secret=CLIENT_SECRET, hint=None):
    res = client(secret).introspect_token(URL, token=token, token_type_hint=hint)
    return res


def inactive(token, hint=None):
    res = introspect(token, hint=hint)
    assert res.status_code == 200, (res.status_code, res.text)
    assert res.headers["Cache-Control"] == "no-store", res.headers
    assert res.json() == {"active": False}, res.text


def check_live():
    live = os.environ["LIVE_ACCESS"]
    res = introspect(live, hint="access_token")
    assert res.status_code == 200, (res.status_code, res.text)
    assert res.headers["Content-Type"] == "application/json", res.headers
    assert res.headers["Cache-Control"] == "no-store", res.headers
    body = res.json()
    assert body["active"] is True, body
    assert body["sub"] == "user1", body
    assert body["token_type"] == "Bearer", body
    assert body["sid"] == os.environ["LIVE_SESSION"], body
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int), body
    assert body["exp"] > body["iat"], body
    assert "cnf" not in body, body

    inactive(os.environ["REVOKED_ACCESS"])
    # A refresh token, with or without the hint: never live here.
    inactive(os.environ["LIVE_REFRESH"])
    inactive(os.environ["LIVE_REFRESH"], hint="refresh_token")
    inactive("not-a-token")
    inactive(live[:-4] + "AAAA")

    # Wrong client credentials: 401 invalid_client with a Basic challenge, nothing else.
    res = introspect(live, secret="0" * 32)
    assert res.status_code == 401, (res.status_code, res.text)
    assert res.headers["WWW-Authenticate"].startswith("Basic realm="), res.headers
    assert res.json()["error"] == "invalid_client", res.text
    assert "active" not in res.text, res.text
    # None at all (a plain client, no Authlib auth).
    res = requests.post(URL, data={"token": live})
    assert res.status_code == 401, (res.status_code, res.text)
    assert res.headers["WWW-Authenticate"].startswith("Basic realm="), res.headers


def check_expired():
    inactive(os.environ["LIVE_ACCESS"])


if __name__ == "__main__":
    {"live": check_live, "expired": check_expired}[sys.argv[1]]()
    print("authlib: all checks passed")
