"""The tree operations of libseccomp's rule database (``src/db.c``, v2.5.4), ported with
their reference counts: nodes, levels, ``_db_tree_prune`` and ``_db_tree_add``.  Used by
:mod:`probes.policy.seccomp_db`, which says what they amount to."""

from __future__ import annotations

from typing import Any

from .models import Op

M32 = 0xFFFFFFFF

# db_iter_state flags
_MATCH = 0x01
_MATCH_ONCE = 0x02
_X_FINISHED = 0x10
_N_FINISHED = 0x20
_X_PREFIX = 0x100
_N_PREFIX = 0x200
_M_MATCHSET = _MATCH | _MATCH_ONCE
_M_REDUNDANT = _MATCH | _X_FINISHED | _N_PREFIX

# node operators after generation: EQ, MASKED_EQ, GT, GE (NE/LT/LE are rewritten)
_OP_PRI = {Op.MASKED_EQ: 3, Op.EQ: 3, Op.NE: 3, Op.LE: 2, Op.LT: 2, Op.GE: 1, Op.GT: 1}


class Conflict(Exception):
    """libseccomp refuses a rule (EEXIST): it ends where an existing rule of the same
    syscall ends, with the same comparisons, and another action."""


class Corrupt(Exception):
    """libseccomp links a node of the new rule into a level twice (the new chain reaches
    one sub-level through two paths, e.g. after a 64-bit GT comparison, and the existing
    tree has that sub-level under two nodes too): the level becomes a cycle and
    libseccomp 2.5.4 loops forever, in ``seccomp_rule_add`` or when generating the
    filter.  runc hangs; trace-run refuses the profile."""


class _Node:
    __slots__ = ("act_f", "act_f_flg", "act_t", "act_t_flg", "arg", "datum", "datum_full",
                 "hi", "lvl_nxt", "lvl_prv", "mask", "nxt_f", "nxt_t", "op", "op_orig",
                 "refcnt")

    def __init__(self, arg: int, hi: bool, op: Op, op_orig: Op, mask: int, datum: int,
                 datum_full: int) -> None:
        self.arg, self.hi, self.op, self.op_orig = arg, hi, op, op_orig
        self.mask, self.datum, self.datum_full = mask, datum & mask, datum_full
        self.act_t_flg = self.act_f_flg = False
        self.act_t: Any = None
        self.act_f: Any = None
        self.lvl_prv: _Node | None = None
        self.lvl_nxt: _Node | None = None
        self.nxt_t: _Node | None = None
        self.nxt_f: _Node | None = None
        self.refcnt = 0


class _Ptr:
    """``struct db_arg_chain_tree **``: an attribute of an object."""
    __slots__ = ("attr", "obj")

    def __init__(self, obj: Any, attr: str) -> None:
        self.obj, self.attr = obj, attr

    def get(self) -> _Node | None:
        v: _Node | None = getattr(self.obj, self.attr)
        return v

    def set(self, v: _Node | None) -> None:
        setattr(self.obj, self.attr, v)


class _Box:
    __slots__ = ("v",)

    def __init__(self, v: _Node | None) -> None:
        self.v = v


def _local(v: _Node | None) -> _Ptr:
    return _Ptr(_Box(v), "v")


def _arg_pri(n: _Node) -> int:
    return (n.arg << 1) + (1 if n.hi else 0)


def _lt(a: _Node, b: _Node) -> bool:
    pa, pb = _arg_pri(a), _arg_pri(b)
    if pa != pb:
        return pa < pb
    oa, ob = _OP_PRI[a.op_orig], _OP_PRI[b.op_orig]
    if oa != ob:
        return oa < ob
    if a.op_orig in (Op.LE, Op.LT):
        return a.datum > b.datum
    return a.datum < b.datum


def _eq(a: _Node, b: _Node) -> bool:
    return (_arg_pri(a) == _arg_pri(b) and a.op is b.op and a.datum == b.datum
            and a.mask == b.mask)


def _leaf(n: _Node) -> bool:
    return n.nxt_t is None and n.nxt_f is None


def _zombie(n: _Node) -> bool:
    return _leaf(n) and not n.act_t_flg and not n.act_f_flg


def _get(n: _Node | None) -> _Node | None:
    if n is not None:
        n.refcnt += 1
    return n


def _level_clean(node: _Node) -> int:
    n: _Node | None = node
    assert n is not None
    while n.lvl_prv is not None:
        n = n.lvl_prv
    start = n
    while n is not None:
        links = (1 if n.lvl_prv else 0) + (1 if n.lvl_nxt else 0)
        if n.refcnt > links:
            return 0
        n = n.lvl_nxt
    cnt = 0
    p = _local(start)
    while p.get() is not None:
        cnt += _node_put(p)
    return cnt


def _tree_put(p: _Ptr) -> int:
    cnt = _node_put(p)
    t = p.get()
    if t is not None:
        cnt += _level_clean(t)
    return cnt


def _node_put(p: _Ptr) -> int:
    n = p.get()
    if n is None:
        return 0
    cnt = 0
    n.refcnt -= 1
    if n.refcnt == 0:
        lvl_p, lvl_n, nxt_t, nxt_f = n.lvl_prv, n.lvl_nxt, n.nxt_t, n.nxt_f
        if lvl_p is not None:
            lvl_p.lvl_nxt = None
        if lvl_n is not None:
            lvl_n.lvl_prv = None
        pp, pn = _local(lvl_p), _local(lvl_n)
        if lvl_p is not None:
            cnt += _node_put(pp)
        if lvl_n is not None:
            cnt += _node_put(pn)
        lvl_p, lvl_n = pp.get(), pn.get()
        if lvl_p is not None:
            lvl_p.lvl_nxt = _get(lvl_n)
        if lvl_n is not None:
            lvl_n.lvl_prv = _get(lvl_p)
        p.set(lvl_p if lvl_p is not None else lvl_n)
        cnt += _tree_put(_local(nxt_t))
        cnt += _tree_put(_local(nxt_f))
        cnt += 1
    return cnt


def _tree_remove(tree: _Ptr, node: _Node) -> int:
    cnt = 0
    c = tree.get()
    if c is None:
        return 0
    while c.lvl_prv is not None:
        c = c.lvl_prv
    found: _Node | None = None
    cur: _Node | None = c
    while True:
        assert cur is not None
        if cur is node:
            found = cur
            break
        cnt += _tree_remove(_Ptr(cur, "nxt_t"), node)
        cnt += _tree_remove(_Ptr(cur, "nxt_f"), node)
        if _zombie(cur):
            found = cur
            break
        cur = cur.lvl_nxt
        if cur is None or cnt != 0:
            return cnt
    c = found
    if c is tree.get():
        tree.set(c.lvl_prv if c.lvl_prv is not None else c.lvl_nxt)
    if c.lvl_prv is not None:
        c.lvl_prv.lvl_nxt = c.lvl_nxt
    if c.lvl_nxt is not None:
        c.lvl_nxt.lvl_prv = c.lvl_prv
    c.lvl_prv = c.lvl_nxt = None
    cnt += _node_put(_local(c))
    return cnt


def _act_check(tree: _Node | None, action: int) -> int:
    if tree is None:
        return 0
    c: _Node | None = tree
    assert c is not None
    while c.lvl_prv is not None:
        c = c.lvl_prv
    while c is not None:
        if c.act_t_flg and c.act_t[0] != action:
            return -1
        if c.act_f_flg and c.act_f[0] != action:
            return -1
        if _act_check(c.nxt_t, action) < 0 or _act_check(c.nxt_f, action) < 0:
            return -1
        c = c.lvl_nxt
    return 0


class _State:
    __slots__ = ("action", "flags", "sx")

    def __init__(self, sx: Any, action: int, flags: int = 0) -> None:
        self.sx, self.action, self.flags = sx, action, flags

    def copy(self) -> _State:
        return _State(self.sx, self.action, self.flags)


_UNSET = (0, None)   # an action field libseccomp never set: 0, SCMP_ACT_KILL_THREAD


def _prune(existing: _Node | None, new: _Node | None, state: _State) -> int:
    cnt = 0
    state_new = state.copy()
    x: _Node | None = existing
    n = new
    if n is None or x is None or (state.flags & _M_MATCHSET) == _MATCH_ONCE:
        return _prune_return(state, state_new, cnt)
    while x.lvl_prv is not None:
        x = x.lvl_prv
    while x is not None:
        x_next = x.lvl_nxt
        if _eq(x, n):
            state_new.flags |= _M_MATCHSET
            if _leaf(n):
                state_new.flags |= _N_FINISHED
            if _leaf(x):
                state_new.flags |= _X_FINISHED
            if (x.act_t_flg or x.nxt_t) and not (n.act_t_flg or n.nxt_t):
                return _prune_return(state, state_new, cnt)
            if (x.act_f_flg or x.nxt_f) and not (n.act_f_flg or n.nxt_f):
                return _prune_return(state, state_new, cnt)
            if state_new.flags & _N_FINISHED and state_new.flags & _X_FINISHED:
                if n.act_t_flg != x.act_t_flg or _a(n.act_t) != _a(x.act_t):
                    return _prune_return(state, state_new, cnt)
                if n.act_f_flg != x.act_f_flg or _a(n.act_f) != _a(x.act_f):
                    return _prune_return(state, state_new, cnt)
            skip = False
            for branch in ("nxt_t", "nxt_f"):
                nb = getattr(n, branch)
                if nb is None:
                    continue
                assert x is not None
                _get(x)
                st = state.copy()
                st.flags |= _M_MATCHSET
                cnt += _prune(getattr(x, branch), nb, st)
                px = _local(x)
                cnt += _node_put(px)
                x = px.get()
                if st.flags & _MATCH:
                    state_new.flags |= st.flags
                if x is None:
                    skip = True
                    break
            if not skip:
                assert x is not None
                ok = _act_check(x, state_new.action) == 0
                if (ok and state_new.flags & _MATCH and state_new.flags & _N_FINISHED
                        and state_new.flags & _X_PREFIX):
                    px = _Ptr(state.sx, "chains")
                    cnt += _tree_remove(px, x)
                    if state.sx.chains is None:
                        return _prune_return(state, state_new, cnt)
                elif (ok and state_new.flags & _MATCH and state_new.flags & _X_FINISHED
                      and state_new.flags & _N_PREFIX):
                    return _prune_return(state, state_new, cnt)
        elif _lt(x, n):
            if state.flags & _N_PREFIX:
                return _prune_return(state, state_new, cnt)
            for branch in ("nxt_t", "nxt_f"):
                assert x is not None
                xb = getattr(x, branch)
                if xb is None:
                    continue
                _get(x)
                st = state.copy()
                st.flags &= ~_MATCH
                st.flags |= _X_PREFIX
                cnt += _prune(xb, n, st)
                px = _local(x)
                cnt += _node_put(px)
                x = px.get()
                if st.flags & _MATCH:
                    state_new.flags |= st.flags
                    return _prune_return(state, state_new, cnt)
                if x is None:
                    break
        else:
            if state.flags & _X_PREFIX:
                return _prune_return(state, state_new, cnt)
            for branch in ("nxt_t", "nxt_f"):
                nb = getattr(n, branch)
                if nb is None:
                    continue
                assert x is not None
                _get(x)
                st = state.copy()
                st.flags &= ~_MATCH
                st.flags |= _N_PREFIX
                cnt += _prune(x, nb, st)
                px = _local(x)
                cnt += _node_put(px)
                x = px.get()
                if st.flags & _MATCH:
                    state_new.flags |= st.flags
                    return _prune_return(state, state_new, cnt)
                if x is None:
                    break
        x = x_next
    state_new.flags &= ~_MATCH
    return _prune_return(state, state_new, cnt)


def _prune_return(state: _State, state_new: _State, cnt: int) -> int:
    if state_new.flags & _MATCH:
        state.flags |= state_new.flags
    else:
        state.flags &= ~_MATCH
    return cnt


def _a(act: Any) -> int:
    return 0 if act is None else int(act[0])


def _tree_add(existing: _Ptr, new: _Node, state: _State) -> int:
    x = existing.get()
    n = new
    while x is not None:
        if _eq(x, n):
            for flg, act, nxt in (("act_t_flg", "act_t", "nxt_t"),
                                  ("act_f_flg", "act_f", "nxt_f")):
                if not getattr(n, flg):
                    continue
                if not getattr(x, flg):
                    if _act_check(getattr(x, nxt), getattr(n, act)[0]) != 0:
                        return -1
                    p = _Ptr(x, nxt)
                    rc = _node_put(p)
                    setattr(x, nxt, None)
                    setattr(x, act, getattr(n, act))
                    setattr(x, flg, True)
                    state.sx.node_cnt -= rc
                elif getattr(n, act)[0] != getattr(x, act)[0]:
                    # the 64-bit adjustment; in libseccomp both branches set act_t
                    if n.hi and ((n.datum_full > x.datum_full) if act == "act_t"
                                 else (n.datum_full < x.datum_full)):
                        x.act_t = n.act_t if n.act_t is not None else _UNSET
                    if _leaf(x) or _leaf(n):
                        return -1
            for flg, nxt in (("act_t_flg", "nxt_t"), ("act_f_flg", "nxt_f")):
                nb = getattr(n, nxt)
                if nb is None:
                    continue
                if getattr(x, nxt) is not None:
                    rc = _tree_add(_Ptr(x, nxt), nb, state)
                    if rc != 0:
                        return rc
                elif not getattr(x, flg):
                    setattr(x, nxt, _get(nb))
                else:
                    return 0
            return 0
        elif n.lvl_prv is not None or n.lvl_nxt is not None:
            raise Corrupt(n.arg)
        elif not _lt(x, n):
            if x.lvl_nxt is None:
                n.lvl_prv = _get(x)
                x.lvl_nxt = _get(n)
                return 0
            x = x.lvl_nxt
        else:
            if x.lvl_prv is not None:
                x.lvl_prv.lvl_nxt = _get(n)
                n.lvl_prv = x.lvl_prv
                x.lvl_prv = _get(n)
                n.lvl_nxt = x
            else:
                x.lvl_prv = _get(n)
                n.lvl_nxt = _get(x)
            if existing.get() is x:
                existing.set(_get(n))
                _node_put(_local(x))
            return 0
    return 0
