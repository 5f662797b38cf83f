"""The table every built-in helper module registers into (``@BUILTIN.helper(...)``).

:func:`bpf_vm.helpers.default_helpers` hands out copies, so a VM that adds or replaces
helpers never changes what other VMs see."""

from __future__ import annotations

from ..helper_table import HelperTable

BUILTIN = HelperTable()
