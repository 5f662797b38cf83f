"""GPL compatibility of a program's license string, as include/linux/license.h decides."""

from __future__ import annotations

#: The strings the kernel's license_is_gpl_compatible() accepts (exact match).
GPL_COMPATIBLE = frozenset({
    "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
    "Dual MPL/GPL",
})


def license_is_gpl_compatible(license: str) -> bool:
    return license in GPL_COMPATIBLE
