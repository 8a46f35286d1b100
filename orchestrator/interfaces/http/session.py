"""Console sessions and CSRF tokens, both derived from the API token (HMAC-SHA256).

A session cookie is `v1.<expiry>.<tier>.<nonce>.<mac>` with mac = HMAC(token, the rest): it
holds no secret, cannot be forged without the token, and dies when the server's token is
rotated. The CSRF token of a session is HMAC(token, "csrf|" + cookie): a page carries it in
its forms (and a meta tag for fetch()), a cross-site page can neither read nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "orchestrator_session"
LOGIN_COOKIE = "orchestrator_login"  # the login form's double-submit CSRF value
SESSION_SECONDS = 12 * 3600  # one shift
OWNER = "owner"
READER = "reader"
TIERS = (OWNER, READER)


@dataclass(frozen=True)
class Session:
    cookie: str
    tier: str
    expires_at: int

    @property
    def owner(self) -> bool:
        return self.tier == OWNER


class Sessions:
    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self._key = token.encode()
        self._clock = clock

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def issue(self, tier: str) -> Session:
        if tier not in TIERS:
            raise ValueError(f"tier {tier!r} is not one of {', '.join(TIERS)}")
        expires = int(self._clock()) + SESSION_SECONDS
        body = f"v1.{expires}.{tier}.{secrets.token_hex(8)}"
        return Session(f"{body}.{self._mac('session|' + body)}", tier, expires)

    def verify(self, cookie: str | None) -> Session | None:
        """The session of a cookie value, or None (absent, forged, expired, malformed)."""
        if not cookie or len(cookie) > 200:
            return None
        body, _, mac = cookie.rpartition(".")
        parts = body.split(".")
        if len(parts) != 4 or parts[0] != "v1" or parts[2] not in TIERS or not parts[1].isdigit():
            return None
        if not hmac.compare_digest(mac.encode(), self._mac("session|" + body).encode()):
            return None
        expires = int(parts[1])
        if expires <= self._clock():
            return None
        return Session(cookie, parts[2], expires)

    def csrf(self, session: Session) -> str:
        return self._mac("csrf|" + session.cookie)

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf(session).encode())


def cookies(header: str | None) -> dict[str, str]:
    """The request's cookies; a malformed Cookie header counts as none."""
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def set_cookie(name: str, value: str, max_age: int, path: str = "/") -> tuple[str, str]:
    """HttpOnly (no script reads it) and SameSite=Strict (no cross-site request carries it)."""
    return ("Set-Cookie", f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict")


def clear_cookie(name: str, path: str = "/") -> tuple[str, str]:
    return ("Set-Cookie", f"{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict")
