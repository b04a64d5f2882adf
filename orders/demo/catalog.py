"""The generator's fixed data: people, places, products, carriers and problem wordings.

Postal codes are real formats for their countries (ADDRESS_INVALID checks them
against Google's per-country rules), so a clean order never trips that rule; the
wrong-country codes are valid elsewhere and invalid where they are sent.
"""

from __future__ import annotations

# kind made → reason code E²A should open. The scorer reads this mapping.
PROBLEM_REASONS: dict[str, str] = {
    "pick_delay": "PICK_DELAY",
    "pack_delay": "PACK_DELAY",
    "ship_delay": "SHIP_DELAY",
    "delivery_delay": "DELIVERY_DELAY",
    "missing_scan": "MISSING_SCAN",
    "address_invalid": "ADDRESS_INVALID",
    "address_error": "ADDRESS_ERROR",
    "payment_failed": "PAYMENT_FAILED",
    "inventory_shortage": "INVENTORY_SHORTAGE",
    "damaged_package": "DAMAGED_PACKAGE",
    "carrier_issue": "CARRIER_ISSUE",
    "customer_unavailable": "CUSTOMER_UNAVAILABLE",
}
PROBLEM_KINDS: tuple[str, ...] = tuple(PROBLEM_REASONS)
# Problems that stop an order at a stage: that stage then really runs late, and E²A
# is right to say so too. A scorer counts these delays as fitting the problem.
PROBLEM_FOLLOW_ONS: dict[str, tuple[str, ...]] = {
    "inventory_shortage": ("PICK_DELAY",),
    "damaged_package": ("PACK_DELAY",),
}
PROBLEM_SHARE = 0.13

# country → (name, currency, phone prefix, [(city, province_code, zip, street)])
COUNTRIES: dict[str, tuple[str, str, str, list[tuple[str, str | None, str, str]]]] = {
    "US": (
        "United States",
        "USD",
        "+1",
        [
            ("Austin", "TX", "78701", "Congress Ave"),
            ("Seattle", "WA", "98101", "Pine St"),
            ("Brooklyn", "NY", "11201", "Atlantic Ave"),
            ("Denver", "CO", "80202", "Larimer St"),
            ("Chicago", "IL", "60607", "W Randolph St"),
        ],
    ),
    "DE": (
        "Germany",
        "EUR",
        "+49",
        [
            ("Berlin", None, "10969", "Lindenstraße"),
            ("München", None, "80331", "Sendlinger Str."),
            ("Hamburg", None, "20095", "Mönckebergstraße"),
            ("Köln", None, "50667", "Hohe Str."),
        ],
    ),
    "GB": (
        "United Kingdom",
        "GBP",
        "+44",
        [
            ("London", None, "SW1A 1AA", "Whitehall"),
            ("Manchester", None, "M1 1AE", "Market St"),
            ("Leeds", None, "LS1 4DY", "Briggate"),
        ],
    ),
    "FR": (
        "France",
        "EUR",
        "+33",
        [("Paris", None, "75011", "Rue Oberkampf"), ("Lyon", None, "69002", "Rue Mercière")],
    ),
    "CA": (
        "Canada",
        "CAD",
        "+1",
        [("Toronto", "ON", "M5V 2T6", "King St W"), ("Vancouver", "BC", "V6B 1A1", "Granville St")],
    ),
    "NL": (
        "Netherlands",
        "EUR",
        "+31",
        [("Amsterdam", None, "1012 JS", "Damrak"), ("Utrecht", None, "3511 LX", "Oudegracht")],
    ),
}
# Placeholders and codes of another country, each invalid where it is sent.
BAD_POSTAL_CODES: dict[str, list[str]] = {
    "US": ["00000", "N/A", "SW1A 1AA", "1012 JS"],
    "DE": ["00000", "TBD", "M5V 2T6", "9021"],
    "GB": ["XXXX", "N/A", "10969", "75011"],
    "FR": ["00000", "UNKNOWN", "M1 1AE", "V6B 1A1"],
    "CA": ["000000", "N/A", "78701", "10969"],
    "NL": ["0000", "TBD", "SW1A 1AA", "78701"],
}

FIRST_NAMES = ["Jana", "Liam", "Sofia", "Noah", "Amara", "Mateo", "Hana", "Oskar", "Priya", "Lucas"]
LAST_NAMES = ["Novak", "Schmidt", "García", "Okafor", "Smith", "Dubois", "Tanaka", "Jansen"]

# sku → (title, price in cents, grams)
PRODUCTS: dict[str, tuple[str, int, int]] = {
    "MUG-CER-350-BLU": ("Ceramic mug 350 ml - Blue", 1490, 420),
    "TEA-EGR-250": ("Earl Grey loose leaf 250 g", 850, 250),
    "GLS-TPT-1L": ("Glass teapot 1 l", 3400, 280),
    "TSH-ORG-M-BLK": ("Organic T-shirt M - Black", 2500, 180),
    "HDP-WLS-200": ("Wireless headphones", 8999, 310),
    "CND-SOY-LAV": ("Soy candle lavender", 1800, 350),
    "BTL-STL-750": ("Steel bottle 750 ml", 2900, 390),
    "BAT-LI-18650": ("Li-ion battery 18650 (2-pack)", 1299, 95),
    "LMP-FLR-ARC": ("Arc floor lamp", 14900, 8200),
    "NTB-A5-DOT": ("Dotted notebook A5", 1150, 260),
}
# A product that makes the order need special handling.
PRODUCT_FLAGS: dict[str, str] = {
    "GLS-TPT-1L": "fragile",
    "BAT-LI-18650": "hazmat",
    "LMP-FLR-ARC": "oversized",
}

CARRIERS: dict[str, dict[str, str]] = {
    "UPS": {
        "standard": "UPS Ground",
        "express": "UPS 2nd Day Air Express",
        "overnight": "UPS Next Day Air Overnight",
    },
    "FedEx": {
        "standard": "FedEx Ground",
        "express": "FedEx Express Saver",
        "overnight": "FedEx Priority Overnight",
    },
    "DHL": {
        "standard": "DHL Paket",
        "express": "DHL Express Worldwide",
        "overnight": "DHL Overnight",
    },
    "USPS": {
        "standard": "USPS Ground Advantage",
        "express": "USPS Priority Mail Express",
        "overnight": "USPS Overnight",
    },
}
SERVICE_LEVEL_WEIGHTS = {"standard": 70, "express": 22, "overnight": 8}
# Business days the default SLA policy allows for delivery.
DELIVERY_DAYS = {"standard": 5, "express": 2, "overnight": 1}
WAREHOUSES = ["BER-1", "NJ-2", "RTM-1"]
# Local hours at which the carriers collect from the dock, every day of the week.
CARRIER_PICKUP_HOURS = (11, 17)

# Problem wordings, several per kind, as carriers and WMSs phrase them.
DAMAGE_TEXTS = [
    "Carton crushed at pack station, contents damaged",
    "Item broken during pick: glass shattered in tote",
    "Damaged in handling: forklift puncture on outer box",
    "Outer box torn and product damaged, QA hold",
    "Water damage found on inbound pallet, unit unsellable",
]
CARRIER_TEXTS = [
    "Severe weather conditions delayed delivery",
    "Package missorted at hub, rerouted to correct facility",
    "Vehicle mechanical breakdown, delivery rescheduled",
    "Late trailer arrival at sort facility",
    "Weather delay: winter storm warning in effect",
    "Held at customs clearance facility",
]
UNAVAILABLE_TEXTS = [
    "Recipient not home, notice left",
    "No one available to sign for the package",
    "Customer unavailable, second attempt scheduled",
    "Business closed, recipient absent",
    "Recipient not home, parcel taken to access point",
]
SHORTAGE_TEXTS = [
    "Short pick: bin empty at location",
    "Out of stock at pick face, replenishment pending",
    "Inventory shortage: cycle count variance on SKU",
    "Short pick reported by picker, location empty",
]
# Shopify's financial_status values for a payment that will not be captured.
PAYMENT_STATUSES = ["voided", "expired"]
PAYMENT_TEXTS = [
    "Card declined by issuer (insufficient funds)",
    "Authorization expired before capture",
    "Payment voided by fraud review",
    "3-D Secure authentication failed",
]
