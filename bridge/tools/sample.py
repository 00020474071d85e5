"""Realistic sample orders and product views, for the demo, `bridge produce` and the tests.

The stream is deliberately imperfect, as a real shop's is: some customers have no email, some
visitors no vendor ids, some views no URL, and a few emails are malformed so that vendors refuse
them. Generation is seeded, so a run can be repeated.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

PRODUCTS = [
    ("SKU-1001", "Linen shirt", "apparel", 39.95),
    ("SKU-1002", "Wool scarf", "apparel", 24.5),
    ("SKU-2001", "Espresso cups (4)", "kitchen", 18.0),
    ("SKU-2002", "Chef's knife", "kitchen", 89.0),
    ("SKU-3001", "Desk lamp", "home", 54.99),
    ("SKU-3002", "Throw pillow", "home", 21.0),
    ("SKU-4001", "Trail shoes", "sport", 119.0),
    ("SKU-4002", "Yoga mat", "sport", 29.9),
]
CITIES = [("NL", "Amsterdam"), ("RO", "Bucharest"), ("UA", "Kyiv"), ("GB", "London")]
FIRST = ["Ana", "Bram", "Chloe", "Dmytro", "Eva", "Femke", "George", "Ioana"]
LAST = ["Jansen", "Popescu", "Smith", "Kovalenko", "de Vries", "Ionescu"]


class SampleEvents:
    def __init__(self, seed: int = 7, bad_email_share: float = 0.02) -> None:
        self._rng = random.Random(seed)
        self._bad_email_share = bad_email_share
        self._visitors = [self._visitor() for _ in range(200)]

    def _visitor(self) -> dict[str, Any]:
        rng = self._rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        country, city = rng.choice(CITIES)
        customer_id = f"C{rng.randrange(10**6):06d}"
        roll = rng.random()
        email: str | None = f"{first}.{last}.{customer_id}@example.com".lower().replace(" ", "")
        if roll < 0.1:
            email = None
        elif roll < 0.1 + self._bad_email_share:
            email = f"{first}.{last}-at-example.com".lower().replace(" ", "")
        return {
            "visitor_id": f"v-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
            "vendor_ids": {
                key: f"{key[:2]}-{rng.getrandbits(40):010x}"
                for key in ("quicklizard", "qubit", "esputnik")
                if rng.random() < 0.85
            },
            "customer": {
                "customer_id": customer_id if rng.random() < 0.7 else None,
                "email": email,
                "phone": f"+31 6{rng.randrange(10**8):08d}" if rng.random() < 0.6 else None,
                "first_name": first,
                "last_name": last,
                "country": country,
                "city": city,
            },
            "consent": rng.random() < 0.8,
        }

    def order(self, now_ms: int | None = None) -> dict[str, Any]:
        rng = self._rng
        visitor = rng.choice(self._visitors)
        lines = [(line, rng.randint(1, 3)) for line in rng.sample(PRODUCTS, rng.randint(1, 3))]
        items = [
            {
                "product_id": sku,
                "quantity": quantity,
                "price": price,
                "name": name,
                "category": category,
                "discount": None,
            }
            for (sku, name, category, price), quantity in lines
        ]
        shipping = rng.choice([0.0, 4.95, 6.5])
        total = round(sum(line[3] * quantity for line, quantity in lines) + shipping, 2)
        order_id = f"O-{rng.getrandbits(48):012x}"
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "order_id": order_id,
            "occurred_at": now_ms if now_ms is not None else int(time.time() * 1000),
            "status": "paid",
            "currency": "EUR",
            "total": total,
            "shipping_total": shipping,
            "coupons": ["WELCOME10"] if rng.random() < 0.2 else [],
            "customer": visitor["customer"],
            "visitor_id": visitor["visitor_id"],
            "vendor_ids": visitor["vendor_ids"],
            "items": items,
            "language": rng.choice(["en", "nl", None]),
            "page_url": f"https://shop.example.com/checkout/thanks/{order_id}",
            "channel": "web",
            "marketing_consent": visitor["consent"],
            "attributes": {"province": "NH"} if rng.random() < 0.3 else {},
        }

    def product_view(self, now_ms: int | None = None) -> dict[str, Any]:
        rng = self._rng
        visitor = rng.choice(self._visitors)
        sku, name, category, price = rng.choice(PRODUCTS)
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "occurred_at": now_ms if now_ms is not None else int(time.time() * 1000),
            "product_id": sku,
            "price": price,
            "currency": "EUR",
            "url": f"https://shop.example.com/p/{sku}" if rng.random() < 0.95 else None,
            "in_stock": rng.random() < 0.9,
            "name": name,
            "category": category,
            "visitor_id": visitor["visitor_id"],
            "vendor_ids": visitor["vendor_ids"],
            "customer": visitor["customer"] if rng.random() < 0.5 else None,
            "language": "en",
            "marketing_consent": visitor["consent"],
            "attributes": {},
        }
