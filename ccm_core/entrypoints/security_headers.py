"""The security headers of every HTML page the product serves: the web chat, the admin console, the
survey page and the API's docs.

One policy for all of them, so no page is quietly weaker than the others: scripts, styles, images and
connections come from the product's own origin only; an inline block runs only when the page names
its exact text by hash (never ``unsafe-inline``); no other site may frame a page (clickjacking), move
its base or receive its forms; and no page's address travels to another site in a Referer (a survey
link is the customer's credential). Each page adds only what is its own: caching, ``Vary``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Literal

Referrer = Literal["no-referrer", "same-origin"]


def source_hash(block: str) -> str:
    """The CSP source that lets exactly this inline script or style block run, and no other."""
    digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def content_security_policy(*, scripts: Iterable[str] = (), styles: Iterable[str] = ()) -> str:
    """The page's own origin only, plus the inline ``scripts`` and ``styles`` it carries, by hash."""
    script_src = " ".join([*map(source_hash, scripts), "'self'"])
    style_src = " ".join([*map(source_hash, styles), "'self'"])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {script_src}",
            f"style-src {style_src}",
            "img-src 'self' data:",  # stylesheets draw icons as data: URLs
            "connect-src 'self'",  # 'self' includes the page's own ws:/wss: (the chat's socket)
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def page_headers(
    *, scripts: Iterable[str] = (), styles: Iterable[str] = (), referrer: Referrer = "no-referrer"
) -> dict[str, str]:
    """The headers every HTML page sends (and every redirect between pages)."""
    return {
        "Content-Security-Policy": content_security_policy(scripts=scripts, styles=styles),
        "Referrer-Policy": referrer,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    }
