"""Kubernetes resource quantities for the app's CPU and memory, checked before Kubernetes sees them.

The grammar is the API's (`k8s.io/apimachinery` resource.Quantity, quoted in the Kubernetes
reference "Quantity"): a number, then a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix
(m k M G T P E) or a decimal exponent (e3). Of that, each kind of resource accepts the subset
that means something for it; anything else is refused with a message that names the forms.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_SUFFIXES: Final[dict[str, Decimal]] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(
    rf"(?P<number>{_NUMBER})(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE](?P<exp>[+-]?\d+))?"
)

CPU_QUANTITY: Final = (
    "a CPU quantity in cores (1, 0.5) or millicores (250m), at least 1m and no finer than 1m"
)
MEMORY_QUANTITY: Final = (
    "a memory quantity with a binary suffix such as 256Mi or 1Gi (Ki, Mi, Gi, Ti; k, M, G, T "
    "and plain bytes also work)"
)
MEMORY_ALLOWED: Final = f"{MEMORY_QUANTITY}, at least 64Mi"
CPU_FORMS: Final = f"must be {CPU_QUANTITY}"
MEMORY_FORMS: Final = f"must be {MEMORY_QUANTITY}"
MIN_MEMORY_BYTES: Final = 64 * 2**20


def _value(text: str) -> tuple[Decimal, str] | None:
    """The quantity's value in base units and the suffix it was written with; None when it is
    not a Kubernetes quantity (signs are refused: no resource amount is negative)."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    number = Decimal(match["number"])
    if match["exp"] is not None:
        return number * Decimal(10) ** int(match["exp"]), "e"
    suffix = match["suffix"] or ""
    return number * _SUFFIXES[suffix], suffix


def cpu_millicores(text: str) -> int:
    """Millicores of a CPU quantity; ValueError (saying what is allowed) otherwise.

    "Kubernetes doesn't allow you to specify CPU resources with a precision finer than 1m"
    (Kubernetes docs, Resource Management for Pods and Containers, "CPU resource units").
    """
    parsed = _value(text)
    if parsed is None or parsed[1] not in ("", "m"):
        raise ValueError(CPU_FORMS)
    millicores = parsed[0] * 1000
    if millicores < 1 or millicores != millicores.to_integral_value():
        raise ValueError(CPU_FORMS)
    return int(millicores)


def memory_bytes(text: str) -> int:
    """Bytes of a memory quantity (at least MIN_MEMORY_BYTES); ValueError otherwise."""
    parsed = _value(text)
    if parsed is None:
        raise ValueError(MEMORY_FORMS)
    value, suffix = parsed
    if suffix == "m":
        # Valid syntax, but "400m" of memory is 0.4 bytes (the Kubernetes docs warn about it).
        raise ValueError(f"{MEMORY_FORMS}; 'm' means thousandths of a byte (write Mi)")
    if value != value.to_integral_value():
        raise ValueError(f"{MEMORY_FORMS}; a whole number of bytes")
    if value < MIN_MEMORY_BYTES:
        raise ValueError(f"must be {MEMORY_ALLOWED} (the app's Python process needs more)")
    return int(value)
