"""The hub's own web pages (issue 19): the member's pages, server-rendered with Jinja2,
plain HTML forms and one CSS file shipped in the package (no JavaScript, no CDN, no build
step). docs/member-pages.md.

    >>> install(app, ctx, settings)      # hub.app.create_app does it

`install` adds the routes (`hub.web.member_pages.router`, and HQ's back office
`hub.web.hq_pages.router` under /hq: docs/hq-pages.md), mounts the static files at
`/static`, and keeps what the pages share in `app.state.member_web` and `app.state.hq_web`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hub.api.guard import AuthLimiter
from hub.context import HubContext
from hub.settings import HubSettings

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, ctx: HubContext, settings: HubSettings) -> None:
    from hub.web.member_pages import MemberWeb, router

    # wrong member PINs are counted apart from wrong tokens (the same limits)
    app.state.member_web = MemberWeb(ctx, AuthLimiter.from_settings(settings.hub))
    app.include_router(router)
    from hub.web.hq_pages import HqWeb  # HQ's back office under /hq (docs/hq-pages.md)
    from hub.web.hq_pages import router as hq_router

    app.state.hq_web = HqWeb(ctx, AuthLimiter.from_settings(settings.hub))
    app.include_router(hq_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
