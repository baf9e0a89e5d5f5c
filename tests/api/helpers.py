"""What the API tests share besides fixtures: the path prefix and a typical complaint."""

from __future__ import annotations

from typing import Any

API = "/api/v1"
DELIVERY_COMPLAINT: dict[str, Any] = {
    "channel": "phone",
    "language": "tr",
    "category": "delivery",
    "description": "Kargom hasarlı geldi, kimse telefona cevap vermiyor.",
    "customer": {"name": "Ali Veli", "email": "ali.veli@example.com", "phone": "+90 532 000 00 00"},
}
