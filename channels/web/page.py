"""The chat page at ``/chat``: served by the product itself, in the customer's language, with nothing from
another site, so it works on a network without internet access."""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ccm_core.entrypoints.security_headers import page_headers
from ccm_core.i18n import LANGUAGES, best_language, catalogue, translate
from channels.web.server import supported_language

STATIC = Path(__file__).with_name("static")
ASSETS_PATH = "/chat/assets"
LABEL_PREFIX = "chat.web."
HEADERS = {**page_headers(), "Cache-Control": "no-cache", "Vary": "Accept-Language"}


def page_language(request: Request) -> str:
    """``?lang=`` when it is one of ours, else the browser's preference (Accept-Language), else English."""
    return supported_language(request.query_params.get("lang")) or best_language(
        request.headers.get("accept-language")
    )


@cache
def render_page(language: str) -> str:
    labels = {
        key.removeprefix(LABEL_PREFIX): text
        for key, text in catalogue(language).items()
        if key.startswith(LABEL_PREFIX)
    }
    switcher = "".join(
        f'<li><a href="?lang={code}" hreflang="{code}" lang="{code}"'
        + (' aria-current="true"' if code == language else "")
        + f">{html.escape(translate(code, 'chat.web.language_name'))}</a></li>"
        for code in LANGUAGES
    )
    template = Template((STATIC / "chat.html").read_text(encoding="utf-8"))
    return template.substitute(
        {key: html.escape(text) for key, text in labels.items()},
        lang=language,
        assets=ASSETS_PATH,
        language_links=switcher,
        # The script reads its texts from this JSON block; "<" escaped so no text can end the block.
        labels_json=json.dumps(labels, ensure_ascii=False).replace("<", "\\u003c"),
    )


def page_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
    def chat_page(request: Request) -> HTMLResponse:
        return HTMLResponse(render_page(page_language(request)), headers=HEADERS)

    return router


def assets() -> StaticFiles:
    return StaticFiles(directory=STATIC / "assets")
