"""The customer's copy as a page they can read and keep: one HTML file, in their language.

It is self-contained (its style inline, nothing loaded from anywhere), so a saved copy reads the
same offline; its Content-Security-Policy allows that one style block by its hash and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ccm_core.i18n import translate

_TEMPLATES = Path(__file__).with_name("templates")
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def render_customer_copy(copy: dict[str, Any]) -> str:
    """The copy (``customer_data.export_customer_data``) as HTML in the language of its case."""
    language = copy["language"]

    def t(key: str, **params: Any) -> str:
        return translate(language, f"customer_copy.{key}", **params)

    def term(group: str) -> Any:
        return lambda value: translate(language, f"{group}.{value}")

    return (
        _environment()
        .get_template("customer_copy.html")
        .render(
            copy=copy,
            language=language,
            t=t,
            channel=term("channel"),
            status=term("status"),
            decision=term("decision"),
            action_kind=term("action_kind"),
        )
    )


@cache
def page_headers() -> dict[str, str]:
    """Nothing but the page's own style may run or load; the page cannot be framed."""
    source = (_TEMPLATES / "customer_copy.html").read_text(encoding="utf-8")
    match = _STYLE.search(source)
    assert match, "the page's style block is where the policy's hash is taken"
    digest = base64.b64encode(hashlib.sha256(match.group(1).encode("utf-8")).digest()).decode()
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{digest}'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
