"""Helper implementations, registered under the kernel's ids."""

from __future__ import annotations

from ..helper_table import HelperTable


def default_helpers() -> HelperTable:
    """The helpers every VM offers unless told otherwise."""
    return HelperTable()
