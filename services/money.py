"""Amounts as people read them: in the currency's minor units, never fewer digits.

``display_amount(Decimal("30.3"), "USD")`` is ``30.30``; a sum that needs more
places than the currency has keeps them (nothing is rounded away), and a currency
this table does not know gets two places.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

__all__ = ["EXACT", "display_amount", "minor_units"]

# ISO 4217 currencies whose minor unit is not two decimal places.
_MINOR_UNITS = {
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
    **dict.fromkeys(
        (
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
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),  # fmt: skip
}
EXACT = 100  # digits of precision for sums of money: far beyond any real total


def minor_units(currency: str) -> int:
    """Decimal places of ``currency`` (2 when unknown)."""
    return _MINOR_UNITS.get(currency, 2)


def display_amount(value: Decimal, currency: str) -> Decimal:
    """``value`` with at least the currency's decimal places, and every place it needs.

    Example:
        >>> display_amount(Decimal("1200.5"), "EUR"), display_amount(Decimal("7"), "JPY")
        (Decimal('1200.50'), Decimal('7'))
    """
    exponent = value.normalize().as_tuple().exponent
    needed = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    try:
        with localcontext() as ctx:
            ctx.prec = EXACT
            return value.quantize(Decimal(1).scaleb(-max(needed, minor_units(currency))))
    except InvalidOperation:  # more digits than EXACT: shown as it is
        return value
