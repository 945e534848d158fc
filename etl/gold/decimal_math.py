"""Decimal division rounded half-up once, at the end.

Spark gives a decimal quotient a limited scale chosen from the operand types
(``DECIMAL(38,6)`` for wide operands), rounding there first; rounding that
again to 2 places can differ from rounding the exact quotient
(-50.0049995 -> -50.005000 -> -50.01). Casting both operands to
``DECIMAL(18,2)`` first makes Spark keep 20 decimal places, which is exact for
every quotient whose digits could sit on a rounding boundary with
denominators below 10^17, so the final ROUND is the only rounding.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

OPERAND = "decimal(18,2)"


def divide_half_up(numerator: Column, denominator: Column, scale: int, result_type: str) -> Column:
    """round_half_up(numerator / denominator, scale); null when the denominator is 0 or null,
    and null (not a failed run) when the result does not fit ``result_type``."""
    quotient = F.try_divide(numerator.cast(OPERAND), denominator.cast(OPERAND))
    return F.round(quotient, scale).try_cast(result_type)
