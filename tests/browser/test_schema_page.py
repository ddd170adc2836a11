"""The docs UI at /schema in a real headless Chromium with every request outside the app refused (issue 16, item 5):
Swagger UI's files come from the app (the pinned swagger-ui-py wheel), so the page renders every operation of the
document with no network beyond the server. No console error or CSP violation; a screenshot under tmp_path."""

from __future__ import annotations

import httpx
from playwright.async_api import Route

from app.core.edge import DOCS_CSP
from tests.browser.conftest import Tab
from tests.e2e.server import RunningServer


async def test_the_docs_render_every_operation_offline(server: RunningServer, tab: Tab) -> None:
    document = httpx.get(server.base_url + "/schema/openapi.json").json()
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    outside: list[str] = []
    own: list[str] = []

    async def only_the_app(route: Route) -> None:
        url = route.request.url
        if url.startswith(server.base_url + "/") or url.startswith("data:"):
            own.append(url)
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    await tab.page.context.route("**/*", only_the_app)
    opened = await tab.page.goto(server.base_url + "/schema")
    assert opened is not None and opened.status == 200
    assert (await opened.all_headers())["content-security-policy"] == DOCS_CSP[1].decode()
    operations = tab.page.locator(".opblock")
    await operations.first.wait_for(state="visible", timeout=30_000)
    await tab.screenshot("schema")

    assert await operations.count() == len(operation_ids)
    sign_in = tab.page.locator(".opblock", has=tab.page.locator("[data-path='/api/v1/auth/signin']"))
    assert await sign_in.count() == 1
    title = await tab.page.locator(".info .title").inner_text()
    assert title.startswith("CookCam API") and document["info"]["version"] in title
    assert outside == []
    assert any(url.endswith("/swagger-ui-bundle.js") for url in own)
    assert tab.problems == []
