"""Cross-site request forgery: a cookie-authenticated write needs the console's origin and its session's token.

The attacks are the ones a browser can be made to send: a form or fetch from another site, and from the same
site on another port (``SameSite=Strict`` lets that one carry the console's cookie).
"""

from __future__ import annotations

import json

from streams import redis_keys as keys
from streams.web.csrf import csrf_token, csrf_valid, same_origin, session_cookie, split_session_cookie
from tests.unit.streams.web.harness import DEPT_A, TOKENS, Reply, WebHarness, api, web

__all__ = ["api", "web"]

SAME_SITE_OTHER_PORT = "http://127.0.0.1:18999"


def test_same_origin_compares_scheme_host_and_port() -> None:
    assert same_origin("http://127.0.0.1:6066", "127.0.0.1:6066", {"http"})
    assert same_origin("http://127.0.0.1:6066/console/", "127.0.0.1:6066", {"http"})  # a Referer
    assert same_origin("https://ops.city.example", "ops.city.example", {"http", "https"})  # behind TLS ingress
    assert same_origin("https://ops.city.example:443", "OPS.city.example", {"https"})
    assert not same_origin(SAME_SITE_OTHER_PORT, "127.0.0.1:6066", {"http"})
    assert not same_origin("https://127.0.0.1:6066", "127.0.0.1:6066", {"http"})
    assert not same_origin("http://evil.example", "127.0.0.1:6066", {"http"})
    assert not same_origin("null", "127.0.0.1:6066", {"http"})  # sandboxed frames, file: pages
    assert not same_origin("http://127.0.0.1:6066", "", {"http"})


def test_csrf_token_is_bound_to_the_session_and_the_token() -> None:
    cookie = session_cookie("s1", "tok.with.dots")
    assert split_session_cookie(cookie) == ("s1", "tok.with.dots")
    assert split_session_cookie("legacy-token") == ("", "legacy-token")
    good = csrf_token("tok", "s1")
    assert csrf_valid("tok", "s1", good)
    assert not csrf_valid("tok", "s2", good)  # another sign-in of the same token
    assert not csrf_valid("other", "s1", good)
    assert not csrf_valid("tok", "", csrf_token("tok", ""))  # a cookie without a session id
    assert not csrf_valid("tok", "s1", None) and not csrf_valid("tok", "s1", "")


def seed_task(api: WebHarness) -> None:
    task = {"task_id": "C-a1/1", "case_id": "C-a1", "department": DEPT_A, "status": "open",
            "created_at": 1_700_000_000.0, "kind": "garbage", "priority": "normal"}
    api.run(api.redis.hset(keys.tasks_of(DEPT_A), "C-a1/1", json.dumps(task)))


def console_origin(api: WebHarness) -> str:
    return str(api.client.make_url("")).rstrip("/")


def sign_in(api: WebHarness, who: str) -> Reply:
    reply = api.call("POST", "/api/session", json={"token": TOKENS[who][0]},
                     headers={"Origin": console_origin(api)})
    assert reply.status == 200
    return reply


def start_task(api: WebHarness, **headers: str) -> Reply:
    """What the attacker's page makes the signed-in browser send: the cookie rides along, nothing else."""
    return api.call("POST", "/api/tasks/C-a1/1/start", data="note=pwned",
                    headers={"Content-Type": "application/x-www-form-urlencoded", **headers})


def test_cookie_write_from_another_site_or_port_is_refused(api: WebHarness) -> None:
    seed_task(api)
    csrf = sign_in(api, "crew_a").headers["X-CSRF-Token"]
    for origin in (SAME_SITE_OTHER_PORT, "http://evil.example", "null"):
        refused = start_task(api, Origin=origin)
        assert refused.status == 403 and "cross-site" in refused.body["error"], origin
        # Even a stolen CSRF token does not help a page of another origin.
        assert start_task(api, Origin=origin, **{"X-CSRF-Token": csrf}).status == 403
    assert start_task(api, Referer=SAME_SITE_OTHER_PORT + "/attack.html").status == 403
    assert start_task(api).status == 403  # neither Origin nor Referer
    assert api.produced == []
    refused = [e for e in api.audited if e["action"] == "request.refused"]
    assert {(e["actor"], e["detail"]["status"], e["detail"]["presented"]) for e in refused} == {
        (f"field_crew:crew_a@{DEPT_A}", 403, "cookie")}


def test_cookie_write_from_the_console_needs_its_session_token(api: WebHarness) -> None:
    seed_task(api)
    signed_in = sign_in(api, "crew_a")
    csrf = signed_in.headers["X-CSRF-Token"]
    assert signed_in.body["csrf"] == csrf
    own = console_origin(api)
    assert start_task(api, Origin=own).status == 403  # no token
    assert start_task(api, Origin=own, **{"X-CSRF-Token": csrf_token(TOKENS["crew_a"][0], "guess")}).status == 403
    # Reads carry the token back, so the console can pick it up after a reload.
    assert api.call("GET", "/api/session").headers["X-CSRF-Token"] == csrf
    ok = api.call("POST", "/api/tasks/C-a1/1/start", json={}, headers={"Origin": own, "X-CSRF-Token": csrf})
    assert ok.status == 202 and [update.action for _, _, update in api.produced] == ["start"]
    # A new sign-in is a new session: the old session's token is stale.
    sign_in(api, "crew_a")
    assert start_task(api, Origin=own, **{"X-CSRF-Token": csrf}).status == 403


def test_a_cookie_from_before_sessions_had_ids_reads_but_cannot_write(api: WebHarness) -> None:
    seed_task(api)
    api.client.session.cookie_jar.update_cookies({"cityops_session": TOKENS["crew_a"][0]})
    assert api.call("GET", "/api/session").status == 200
    assert "X-CSRF-Token" not in api.call("GET", "/api/session").headers
    refused = start_task(api, Origin=console_origin(api))
    assert refused.status == 403 and "sign in again" in refused.body["error"]


def test_bearer_calls_are_unaffected(api: WebHarness) -> None:
    seed_task(api)
    reply = api.call("POST", "/api/tasks/C-a1/1/ack", who="crew_a", json={}, headers={"Origin": "http://evil.example"})
    assert reply.status == 202 and "X-CSRF-Token" not in reply.headers


def test_sign_in_from_another_origin_is_refused(api: WebHarness) -> None:
    reply = api.call("POST", "/api/session", json={"token": TOKENS["operator"][0]},
                     headers={"Origin": SAME_SITE_OTHER_PORT})
    assert reply.status == 403 and "Set-Cookie" not in reply.headers
    # Programs that send no Origin (curl, scripts) still sign in.
    assert api.call("POST", "/api/session", json={"token": TOKENS["operator"][0]}).status == 200
