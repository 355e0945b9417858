"""A browser session's profile (``profileId`` on ``POST /browsers``): cookies in at start, out at the end.

The profile's state is Playwright's storage state (cookies and localStorage per origin), kept
encrypted (:mod:`shared.profile_store`). A browser session is plain CDP, so it loads the
profile's cookies with ``Storage.setCookies`` before the caller connects and writes the
browser's cookies back with ``Storage.getCookies`` when the session ends (the origins'
localStorage stays as it was: a CDP client may hold any number of origins open). Without
``BROWSERFLEET_SECRETS_KEY`` profiles are neither read nor written, as for agent sessions.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shared import crypto
from shared.profile_store import cookie_domains
from shared.settings import Settings
from shared.stores import Stores
from workers.browser.cdp_client import CdpClient, CdpError

log = logging.getLogger(__name__)

_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def _to_cdp(cookie: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: cookie[k] for k in ("name", "value", "domain", "path", "secure", "httpOnly") if k in cookie
    }
    same_site = _SAME_SITE.get(str(cookie.get("sameSite", "")).lower())
    if same_site:
        out["sameSite"] = same_site
    expires = cookie.get("expires", -1)
    if isinstance(expires, int | float) and expires > 0:
        out["expires"] = expires
    return out


def _from_cdp(cookie: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": cookie["name"],
        "value": cookie["value"],
        "domain": cookie["domain"],
        "path": cookie["path"],
        "expires": -1 if cookie.get("session") else cookie.get("expires", -1),
        "httpOnly": bool(cookie.get("httpOnly")),
        "secure": bool(cookie.get("secure")),
        "sameSite": cookie.get("sameSite", "Lax"),
    }


class BrowserProfile:
    """The profile of one browser session (a no-op without one, or without a secrets key)."""

    def __init__(self, stores: Stores, profile_id: str | None, settings: Settings) -> None:
        self.stores = stores
        usable = bool(crypto.key_list(settings.secrets_key))
        self.profile_id = profile_id if usable else None
        self.key = settings.secrets_key
        self.origins: list[Any] = []
        if profile_id and not usable:
            log.warning("profile %s not used: no BROWSERFLEET_SECRETS_KEY", profile_id)

    async def load(self, control: CdpClient) -> None:
        if self.profile_id is None:
            return
        token = await asyncio.to_thread(self.stores.profiles.state_token, self.profile_id)
        try:
            state = (
                crypto.decrypt_json(token, self.key, purpose=crypto.PROFILE_STATE, owner=self.profile_id)
                if token
                else {}
            )
        except crypto.SecretsKeyError as exc:
            log.warning("profile %s unreadable (%s); starting without it", self.profile_id, exc)
            return
        if not isinstance(state, dict):
            return
        self.origins = list(state.get("origins") or [])
        cookies = [_to_cdp(c) for c in state.get("cookies") or [] if isinstance(c, dict)]
        if cookies:
            await control.send("Storage.setCookies", {"cookies": cookies})

    async def save(self, control: CdpClient) -> None:
        if self.profile_id is None:
            return
        try:
            cookies = (await control.send("Storage.getCookies")).get("cookies", [])
        except CdpError as exc:
            log.warning("profile %s not saved: %s", self.profile_id, exc)
            return
        state: dict[str, object] = {"cookies": [_from_cdp(c) for c in cookies], "origins": self.origins}
        token = crypto.encrypt_json(state, self.key, purpose=crypto.PROFILE_STATE, owner=self.profile_id)
        await asyncio.to_thread(
            self.stores.profiles.save_state, self.profile_id, token, cookie_domains(state)
        )
