"""Static reference data for the generator: products, pages, user agents, places, campaigns.

Everything here is fixed (no randomness), so the catalogue is the same for every seed. JSON fragments that
every event repeats are serialised once here; the event writers only concatenate them, which is what keeps
the generator fast enough for millions of events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SHOP_URL = "https://shop.example.com"

CATEGORIES: dict[str, tuple[tuple[str, float, float], ...]] = {
    # category -> (name stem, min price, max price) per product family
    "shoes": (("Trail Runner", 89, 149), ("City Sneaker", 59, 99), ("Leather Boot", 129, 229)),
    "outerwear": (("Rain Shell", 99, 179), ("Down Parka", 189, 349), ("Fleece Jacket", 49, 89)),
    "accessories": (("Wool Beanie", 19, 35), ("Canvas Tote", 25, 45), ("Leather Belt", 35, 69)),
    "home": (("Linen Throw", 49, 99), ("Ceramic Mug", 12, 24), ("Scented Candle", 18, 39)),
    "beauty": (("Face Serum", 29, 69), ("Hand Cream", 9, 19), ("Lip Balm", 5, 12)),
    "electronics": (("Wireless Earbuds", 79, 199), ("Phone Charger", 19, 39), ("Smart Speaker", 49, 129)),
}
VARIANTS = ("Classic", "Sport", "Pro", "Lite")


@dataclass(frozen=True, slots=True)
class Product:
    """One catalogue item and its pre-serialised JSON fragments."""

    product_id: str
    sku: str
    name: str
    category: str
    price: float
    path: str
    viewed_properties: str  # JSON object for "Product Viewed"
    line_fields: str  # `"product_id":..,"category":..,"price":..` for cart lines and order products


def _build_products() -> tuple[Product, ...]:
    products = []
    n = 0
    for category, families in CATEGORIES.items():
        for stem, low, high in families:
            for v, variant in enumerate(VARIANTS[: 3 + (n % 2)]):
                n += 1
                price = round(low + (high - low) * (v + 1) / 5, 2) - 0.01
                price = round(price, 2)
                product_id = f"prd_{n:04d}"
                sku = f"{category[:3].upper()}-{n:04d}-{variant[:2].upper()}"
                name = f"{stem} {variant}"
                path = f"/p/{sku.lower()}"
                viewed = json.dumps(
                    {
                        "product_id": product_id,
                        "sku": sku,
                        "name": name,
                        "category": category,
                        "price": price,
                    },
                    separators=(",", ":"),
                )
                line = json.dumps(
                    {"product_id": product_id, "category": category, "price": price}, separators=(",", ":")
                )[1:-1]
                products.append(Product(product_id, sku, name, category, price, path, viewed, line))
    return tuple(products)


PRODUCTS: tuple[Product, ...] = _build_products()
PRODUCTS_BY_CATEGORY: dict[str, tuple[Product, ...]] = {
    c: tuple(p for p in PRODUCTS if p.category == c) for c in CATEGORIES
}


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the shop: Segment page name, path, title, category and its JSON fragments."""

    name: str
    path: str
    title: str
    category: str | None
    url: str
    url_json: str  # json-encoded url (with quotes), reused as the next page's referrer
    properties_head: str  # `"url":..,"path":..,"title":..` (+ category) without braces
    context_head: str  # `"path":..,"title":..,"url":..` for context.page, without braces


def _page(name: str, path: str, title: str, category: str | None = None) -> Page:
    url = SHOP_URL + path
    props: dict[str, object] = {"url": url, "path": path, "title": title}
    if category is not None:
        props["category"] = category
    head = json.dumps(props, separators=(",", ":"))[1:-1]
    context = json.dumps({"path": path, "title": title, "url": url}, separators=(",", ":"))[1:-1]
    return Page(name, path, title, category, url, json.dumps(url), head, context)


HOME_PAGE = _page("Home", "/", "Home | Example Shop")
CART_PAGE = _page("Cart", "/cart", "Your cart | Example Shop")
CHECKOUT_PAGE = _page("Checkout", "/checkout", "Checkout | Example Shop")
CONFIRMATION_PAGE = _page("Order Confirmation", "/checkout/complete", "Thank you | Example Shop")
SIGN_IN_PAGE = _page("Sign In", "/account/sign-in", "Sign in | Example Shop")
CATEGORY_PAGES: dict[str, Page] = {
    c: _page("Category", f"/c/{c}", f"{c.title()} | Example Shop", c) for c in CATEGORIES
}
PRODUCT_PAGES: dict[str, Page] = {
    p.product_id: _page("Product", p.path, f"{p.name} | Example Shop", p.category) for p in PRODUCTS
}

EXTERNAL_REFERRERS: tuple[str, ...] = (
    json.dumps("https://www.google.com/"),
    json.dumps("https://www.bing.com/"),
    json.dumps("https://www.instagram.com/"),
    json.dumps(""),
)

# utm campaigns seen on landing pages: (source, medium, name)
UTM_CAMPAIGNS: tuple[tuple[str, str, str], ...] = (
    ("google", "cpc", "brand_search"),
    ("google", "cpc", "generic_shoes"),
    ("facebook", "paid_social", "autumn_sale"),
    ("instagram", "paid_social", "new_arrivals"),
    ("pinpoint", "email", "cmp_weekly_newsletter"),
    ("pinpoint", "email", "cmp_winback_01"),
    ("pinpoint", "sms", "cmp_flash_sale_sms"),
)
UTM_FRAGMENTS: tuple[str, ...] = tuple(
    ',"campaign":' + json.dumps({"source": s, "medium": m, "name": n}, separators=(",", ":"))
    for s, m, n in UTM_CAMPAIGNS
)

USER_AGENTS: dict[str, tuple[str, ...]] = {
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.6 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/140.0.0.0 Mobile Safari/537.36",
    ),
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.6 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.6 Mobile/15E148 Safari/604.1",
    ),
}

# (country, weight, locale, timezone, cities, phone prefix, phone digits after prefix)
PLACES: tuple[tuple[str, float, str, str, tuple[str, ...], str, int], ...] = (
    (
        "US",
        0.62,
        "en-US",
        "America/New_York",
        ("New York", "Chicago", "Austin", "Seattle", "Denver"),
        "+1",
        10,
    ),
    ("CA", 0.10, "en-CA", "America/Toronto", ("Toronto", "Vancouver", "Montreal"), "+1", 10),
    ("GB", 0.14, "en-GB", "Europe/London", ("London", "Manchester", "Leeds"), "+447", 9),
    ("DE", 0.08, "de-DE", "Europe/Berlin", ("Berlin", "Hamburg", "Munich"), "+4915", 9),
    ("FR", 0.06, "fr-FR", "Europe/Paris", ("Paris", "Lyon", "Lille"), "+336", 8),
)

FIRST_NAMES = (
    "Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Lena", "Omar", "Priya", "Jonas",
    "Chloe", "Mateo", "Sofia", "Lucas", "Amara", "Felix", "Nora", "Hugo", "Iris", "Kenji",
    "Léa", "Björn", "Anaïs", "Zoë",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Chen", "Müller", "Martin", "Okafor", "Patel", "Nguyen", "Rossi", "Kowalski",
    "Dubois", "Schmidt", "Brown", "Silva", "Kim", "Jensen",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

FROM_ADDRESS = "Example Shop <news@shop.example.com>"
AWS_ACCOUNT_ID = "123456789012"
