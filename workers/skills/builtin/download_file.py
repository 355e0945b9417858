"""``download_file``: fetch a URL with the task's cookies and keep it as an output file.

The request goes through the browser context's request API, which page routing does not
see, so the navigation guard is applied here, to the URL and to every redirect.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from playwright.async_api import APIResponse
from pydantic import Field

from shared.urls import parse_url, resolve
from workers.actions.base import ActionError
from workers.skills.base import SkillContext, SkillParams, skill

MAX_REDIRECTS = 5
_UNSAFE = re.compile(r"[^A-Za-z0-9._ \-]+")
_DISPOSITION = re.compile(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", re.IGNORECASE)


class DownloadParams(SkillParams):
    url: str = Field(description="absolute or relative to the current page")
    file_name: str | None = Field(None, description="name to keep it under")


def file_name_for(url: str, response_headers: dict[str, str], wanted: str | None) -> str:
    """A safe base name: the one asked for, else Content-Disposition's, else the URL's."""
    name = wanted
    if not name:
        match = _DISPOSITION.search(response_headers.get("content-disposition", ""))
        name = unquote(match.group(1)) if match else PurePosixPath(unquote(urlsplit(url).path)).name
    name = _UNSAFE.sub("_", PurePosixPath(name.replace("\\", "/")).name).strip(" .")
    return name[:200] or "download"


async def _fetch(ctx: SkillContext, url: str) -> tuple[str, APIResponse]:
    for _ in range(MAX_REDIRECTS + 1):
        parsed = parse_url(url)
        if parsed is None or not parsed.web:
            raise ActionError(f"only http(s) URLs can be downloaded, not {url[:300]}")
        ctx.check_url(url)
        response = await ctx.tabs.context.request.get(url, max_redirects=0, fail_on_status_code=False)
        location = response.headers.get("location")
        if response.status in (301, 302, 303, 307, 308) and location:
            await response.dispose()
            next_url = resolve(location, url)
            if next_url is None:
                raise ActionError(f"{url} redirects to an invalid URL")
            url = next_url
            continue
        return url, response
    raise ActionError(f"more than {MAX_REDIRECTS} redirects")


@skill("download_file", title="Download a file")
async def download_file(ctx: SkillContext, params: DownloadParams) -> dict[str, object]:
    """Download url (with the page's cookies) into the task's output files."""
    page = await ctx.page()
    parsed = parse_url(params.url.strip(), page.url)
    if parsed is None or not parsed.web:
        raise ActionError(f"only http(s) URLs can be downloaded, not {params.url[:300]}")
    url = parsed.href
    final_url, response = await _fetch(ctx, url)
    try:
        if not response.ok:
            raise ActionError(f"download of {final_url} failed: HTTP {response.status}")
        limit = ctx.files.max_bytes if ctx.files else 0
        declared = int(response.headers.get("content-length") or 0)
        if limit and declared > limit:
            raise ActionError(f"{final_url} is {declared} bytes, over the {limit}-byte file limit")
        data = await response.body()
        headers = response.headers
    finally:
        await response.dispose()
    name = file_name_for(final_url, headers, params.file_name)
    content_type = headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    saved = await ctx.save_file(name, data, content_type)
    return {**saved, "size": len(data), "contentType": content_type, "url": final_url}
