"""State comparison (states_equal): may the walk stop here because an explored state
already covers the current one, and is the current one an exact repeat (a loop that
makes no progress)?  Dead registers are ignored, as the kernel's liveness does; ids
must correspond one to one (check_ids)."""

from __future__ import annotations

from .regs import RT, Reg
from .scalar import Scalar
from .state import SLOT, Frame, State

_UNKNOWN = Scalar.unknown()


class _Ids:
    def __init__(self) -> None:
        self.fwd: dict[int, int] = {}
        self.back: dict[int, int] = {}

    def same(self, a: int, b: int) -> bool:
        if not a and not b:
            return True
        if not a or not b:
            return False
        if self.fwd.setdefault(a, b) != b:
            return False
        return self.back.setdefault(b, a) == a


def _reg_covers(old: Reg, cur: Reg, ids: _Ids, exact: bool) -> bool:
    if old.type is RT.NOT_INIT:
        return not exact or cur.type is RT.NOT_INIT
    if cur.type is not old.type:
        return False
    if old.type is RT.SCALAR:
        if exact:
            return old.s == cur.s and ids.same(old.id, cur.id)
        if not old.s.contains(cur.s):
            return False
        return not old.id or ids.same(old.id, cur.id)
    if old.off != cur.off or old.null != cur.null or old.map is not cur.map or \
            old.mem_size != cur.mem_size or old.frameno != cur.frameno or \
            old.ringbuf != cur.ringbuf or old.subprog != cur.subprog:
        return False
    if exact and old.s != cur.s:
        return False
    if not old.s.contains(cur.s):
        return False
    return ids.same(old.id, cur.id) and ids.same(old.ref_obj_id, cur.ref_obj_id)


def _stack_covers(old: Frame, cur: Frame, ids: _Ids, exact: bool) -> bool:
    for spi, os in old.stack.items():
        cs = cur.stack.get(spi)
        if exact:
            if cs is None:
                if os.types != "?" * SLOT:
                    return False
                continue
            if os.types != cs.types:
                return False
            if os.is_spill and not _reg_covers(os.spilled, cs.spilled, ids, True):
                return False
            continue
        ctypes = cs.types if cs is not None else "?" * SLOT
        if os.is_spill:
            if cs is None or not cs.is_spill or cs.spill_size() != os.spill_size():
                if os.spilled.is_scalar and os.spilled.s == _UNKNOWN and \
                        all(c != "?" for c in ctypes):
                    continue
                return False
            if not _reg_covers(os.spilled, cs.spilled, ids, False):
                return False
            continue
        for i, oc in enumerate(os.types):
            cc = ctypes[i]
            if oc == "?":
                continue
            if oc == "m":
                if cc == "?":
                    return False
                continue
            if oc == "0":
                if cc == "0":
                    continue
                if cc == "r" and cs is not None and cs.spilled.is_const and \
                        cs.spilled.s.value == 0:
                    continue
                return False
    if exact:
        for spi, cs in cur.stack.items():
            if spi not in old.stack and cs.types != "?" * SLOT:
                return False
    return True


def _compare(old: State, cur: State, live: list[frozenset[int]], exact: bool) -> bool:
    if len(old.frames) != len(cur.frames):
        return False
    if len(old.refs) != len(cur.refs):
        return False
    if exact and old.may_goto_depth != cur.may_goto_depth:
        return False
    ids = _Ids()
    for of, cf, lv in zip(old.frames, cur.frames, live, strict=True):
        if of.callsite != cf.callsite:
            return False
        for i in range(11):
            if i < 10 and i not in lv:
                continue
            if not _reg_covers(of.regs[i], cf.regs[i], ids, exact):
                return False
        if not _stack_covers(of, cf, ids, exact):
            return False
    return all(ids.same(a.id, b.id) for a, b in zip(old.refs, cur.refs, strict=True))


def covers(old: State, cur: State, live: list[frozenset[int]]) -> bool:
    """Every concrete state ``cur`` stands for is one ``old`` stands for (RANGE_WITHIN)."""
    return _compare(old, cur, live, False)


def equal(old: State, cur: State, live: list[frozenset[int]]) -> bool:
    """``cur`` repeats ``old`` exactly (the kernel's loop check)."""
    return _compare(old, cur, live, True)
