"""ISO 4217 currency codes a tenant may be billed in, and their minor units.

Amounts are stored as integers of the currency's minor unit (cents for USD, yen for
JPY, fils for KWD), so showing an amount needs the exponent. The list is the active
ISO 4217 codes for circulating currencies; funds codes, metals and testing codes
(XAU, XTS, …) are left out on purpose: nobody is invoiced in them.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError

_TWO_DECIMALS = [
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BMD",
    "BND",
    "BOB",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHF",
    "CNY",
    "COP",
    "CRC",
    "CUP",
    "CVE",
    "CZK",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IRR",
    "JMD",
    "KES",
    "KGS",
    "KHR",
    "KPW",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "USD",
    "UYU",
    "UZS",
    "VES",
    "WST",
    "XCD",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
]
_OTHER_EXPONENTS = {
    # No minor unit.
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    # Three decimals.
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}

EXPONENTS: dict[str, int] = {**dict.fromkeys(_TWO_DECIMALS, 2), **_OTHER_EXPONENTS}
CURRENCY_CHOICES: list[tuple[str, str]] = [(code, code) for code in sorted(EXPONENTS)]
DEFAULT_CURRENCY = "USD"


def validate_currency(code: str) -> None:
    """Refuse anything but an active ISO 4217 code in capitals."""
    if code not in EXPONENTS:
        raise ValidationError(f"{code!r} is not an ISO 4217 currency code (e.g. USD, EUR, GBP).")


def minor_to_major(amount: int, currency: str) -> Decimal:
    """An integer amount of minor units as a Decimal of the currency (1234 USD → 12.34)."""
    return Decimal(amount).scaleb(-EXPONENTS.get(currency, 2))


def format_amount(amount: int, currency: str) -> str:
    """`12.34 USD`, `-5.00 EUR`, `1200 JPY`: what invoices and the console print."""
    exponent = EXPONENTS.get(currency, 2)
    return f"{minor_to_major(amount, currency):,.{exponent}f} {currency}"
