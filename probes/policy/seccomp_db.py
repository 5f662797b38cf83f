"""libseccomp's rule database, as ``src/db.c`` (v2.5.4) builds it: how the rules runc adds
for one syscall combine into one argument tree, and what that tree decides.

libseccomp does not keep a profile's rules side by side.  Each ``seccomp_rule_add`` is
turned into a chain of comparison nodes (64-bit arguments as a high and a low 32-bit
half, as ``_db_rule_gen_64`` does; 32-bit ABIs compare the low half only) and merged
into the syscall's tree:

* a rule without conditions on a syscall that has one already is dropped, whatever its
  action (the first unconditional rule stays); one added to a syscall with conditional
  rules replaces them all (``db_rule_add``: "syscall exists with chains but the new filter
  has no chains");
* a rule whose chain is a prefix of existing chains with the same action prunes them
  (``_db_tree_prune``); one that is longer than an existing chain with the same action
  is dropped as redundant;
* otherwise the chain is merged level by level (``_db_tree_add``); nodes on a level are
  ordered by argument, operator and value (``_db_chain_lt``), not by profile order; a
  node that gets a different action where the existing one ends is refused (EEXIST: runc
  fails to load the profile).

The generated BPF (``gen_bpf.c``) walks a level's nodes in that order: a node's true or
false branch leads to its sub-level or its action; a branch with neither, or a sub-level
that matches nothing, goes on with the next node of the level; the end of the top level
is the default action.  :meth:`SyscallTree.decide` is that walk, :meth:`SyscallTree.paths`
the same decision as a first-match list of condition paths (what trace-run compiles).

This is a port of the C code, reference counts included, because which nodes a prune
frees depends on them; ``tests/policy/test_libseccomp.py`` checks it against the host's
libseccomp on random rule sets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .models import Op
from .seccomp_tree import (
    _M_REDUNDANT,
    M32,
    Conflict,
    Corrupt,
    _get,
    _local,
    _Node,
    _prune,
    _Ptr,
    _State,
    _tree_add,
    _tree_put,
)

__all__ = ["Conflict", "Corrupt", "NodeCond", "RuleDb", "SyscallTree"]

@dataclass(frozen=True, slots=True)
class NodeCond:
    """One node test on a path: ``(arg & mask) OP datum`` on a 32-bit half (``hi`` for
    the high word of a 64-bit argument) is ``truth``."""
    index: int
    hi: bool
    op: Op              # EQ (MASKED_EQ included: mask applied first), GT or GE
    mask: int
    datum: int
    truth: bool

    def holds(self, args: Sequence[int]) -> bool:
        word = (args[self.index] >> 32 if self.hi else args[self.index]) & M32
        word &= self.mask
        if self.op is Op.GT:
            r = word > self.datum
        elif self.op is Op.GE:
            r = word >= self.datum
        else:
            r = word == self.datum
        return r == self.truth

    def __str__(self) -> str:
        a = f"arg{self.index}.{'hi' if self.hi else 'lo'}"
        if self.mask != M32:
            a = f"({a} & {self.mask:#x})"
        sym = {Op.GT: (">", "<="), Op.GE: (">=", "<")}.get(self.op, ("==", "!="))
        return f"{a} {sym[0] if self.truth else sym[1]} {self.datum:#x}"


class SyscallTree:
    """``struct db_sys_list``: the rules of one syscall as libseccomp holds them.
    ``action`` is ``(value, payload)`` for a syscall without conditions."""

    def __init__(self, num: int) -> None:
        self.num = num
        self.chains: _Node | None = None
        self.node_cnt = 0
        self.action: Any = None
        self.valid = True

    # --- evaluation (gen_bpf.c's walk) -----------------------------------------------

    def decide(self, args: Sequence[int]) -> tuple[int, Any] | None:
        """The action the filter takes for ``args`` as ``(value, payload)`` (payload None:
        an action field libseccomp left at 0, SCMP_ACT_KILL_THREAD), or None for the
        default action."""
        return self.decide_ex(args)[0]

    def decide_ex(self, args: Sequence[int]) -> tuple[tuple[int, Any] | None, bool]:
        """:meth:`decide`, and whether the walk reached a block with an accumulator other
        than the one libseccomp generated it for (where libseccomp 2.5.4's program may
        compare a stale argument word: see :func:`_walk`)."""
        if self.chains is None:
            return self.action, False
        acc: list[Any] = ["nr", M32, False]
        hit = _walk(self.chains, args, acc, ("nr", M32))
        return hit, bool(acc[2])

    def paths(self) -> Iterator[tuple[tuple[NodeCond, ...], tuple[int, Any]]]:
        """The tree as a first-match list: (node tests along a path, action)."""
        if self.chains is None:
            if self.action is not None:
                yield (), self.action
            return
        yield from _paths(self.chains, ())


def _level(n: _Node) -> Iterator[_Node]:
    c: _Node | None = n
    assert c is not None
    while c.lvl_prv is not None:
        c = c.lvl_prv
    while c is not None:
        yield c
        c = c.lvl_nxt


def _test(n: _Node, args: Sequence[int]) -> bool:
    word = ((args[n.arg] >> 32) if n.hi else args[n.arg]) & M32 & n.mask
    if n.op is Op.GT:
        return word > n.datum
    if n.op is Op.GE:
        return word >= n.datum
    return word == n.datum


def _walk(level: _Node, args: Sequence[int], acc: list[Any], assumed: tuple[Any, int],
          ) -> tuple[int, Any] | None:
    """gen_bpf's walk of one level.  ``acc`` is the accumulator of the generated program
    ([offset key, mask, hazard]); ``assumed`` what the level's first block was generated
    for.  A block loads its argument word only when the state it was generated for
    differs; reached with another accumulator (after falling out of a sub-level),
    libseccomp 2.5.4's output depends on its block layout: ``acc[2]`` records that."""
    for n in _level(level):
        key = (n.arg, n.hi)
        if assumed[0] != key or (n.mask & assumed[1]) != n.mask:
            acc[0], acc[1] = key, M32
        elif (acc[0], acc[1]) != assumed:
            acc[2] = True
        acc[1] &= n.mask
        assumed = (key, n.mask)
        r = _test(n, args)
        nxt, flg, act = (n.nxt_t, n.act_t_flg, n.act_t) if r else (n.nxt_f, n.act_f_flg, n.act_f)
        if nxt is not None:
            hit = _walk(nxt, args, acc, assumed)
            if hit is not None:
                return hit
        elif flg:
            return act
    return None


def _cond(n: _Node, truth: bool) -> NodeCond:
    return NodeCond(n.arg, n.hi, n.op, n.mask, n.datum, truth)


def _paths(level: _Node, prefix: tuple[NodeCond, ...]
           ) -> Iterator[tuple[tuple[NodeCond, ...], tuple[int, Any]]]:
    for n in _level(level):
        for truth, nxt, flg, act in ((True, n.nxt_t, n.act_t_flg, n.act_t),
                                     (False, n.nxt_f, n.act_f_flg, n.act_f)):
            here = (*prefix, _cond(n, truth))
            if nxt is not None:
                yield from _paths(nxt, here)
            elif flg:
                yield here, act


# --- rule generation (_db_rule_gen_64 / _db_rule_gen_32) ---------------------------------

def _gen_64(conds: Sequence[tuple[int, Op, int, int]], action: Any) -> tuple[_Node | None, int]:
    """``conds``: (arg, op, mask, datum) by argument index, as db_col_rule_add stores
    them (mask all ones but for MASKED_EQ)."""
    head: _Node | None = None
    prev: list[_Node | None] = [None, None, None]
    op_prev: Op | None = None
    node_cnt = 0
    cur: list[_Node | None] = [None, None, None]
    for arg, op, mask, datum in conds:
        if op is Op.MASKED_EQ and mask >> 32 == 0 and mask & M32 == 0:
            continue
        hi_m, lo_m, hi_d, lo_d = mask >> 32 & M32, mask & M32, datum >> 32 & M32, datum & M32
        if op in (Op.GT, Op.GE, Op.LE, Op.LT):
            low_op = Op.GT if op in (Op.GT, Op.LE) else Op.GE
            cur = [_Node(arg, True, Op.GT, op, hi_m, hi_d, datum),
                   _Node(arg, True, Op.EQ, op, hi_m, hi_d, datum),
                   _Node(arg, False, low_op, op, lo_m, lo_d, datum)]
            c0, c1 = cur[0], cur[1]
            assert c0 is not None and c1 is not None
            c0.nxt_f = _get(c1)
            c1.nxt_t = _get(cur[2])
        else:
            nop = Op.MASKED_EQ if op is Op.MASKED_EQ else Op.EQ
            cur = [_Node(arg, True, nop, op, hi_m, hi_d, datum),
                   _Node(arg, False, nop, op, lo_m, lo_d, datum), None]
            c0 = cur[0]
            assert c0 is not None
            c0.nxt_t = _get(cur[1])
        p0, p1, p2 = prev
        if p0 is not None:
            if op_prev in (Op.GT, Op.GE):
                assert p2 is not None
                p0.nxt_t = _get(cur[0])
                p2.nxt_t = _get(cur[0])
            elif op_prev in (Op.EQ, Op.MASKED_EQ):
                assert p1 is not None
                p1.nxt_t = _get(cur[0])
            elif op_prev in (Op.LE, Op.LT):
                assert p1 is not None and p2 is not None
                p1.nxt_f = _get(cur[0])
                p2.nxt_f = _get(cur[0])
            else:
                assert p1 is not None
                p0.nxt_f = _get(cur[0])
                p1.nxt_f = _get(cur[0])
        else:
            head = _get(cur[0])
        node_cnt += 2 if op in (Op.NE, Op.EQ, Op.MASKED_EQ) else 3
        prev = list(cur)
        op_prev = op
    c0, c1, c2 = cur
    if c0 is None:
        return None, 0
    if op_prev in (Op.GT, Op.GE):
        assert c2 is not None
        c0.act_t_flg = c2.act_t_flg = True
        c0.act_t = c2.act_t = action
    elif op_prev in (Op.LE, Op.LT):
        assert c1 is not None and c2 is not None
        c1.act_f_flg = c2.act_f_flg = True
        c1.act_f = c2.act_f = action
    elif op_prev in (Op.EQ, Op.MASKED_EQ):
        assert c1 is not None
        c1.act_t_flg = True
        c1.act_t = action
    else:
        assert c1 is not None
        c0.act_f_flg = c1.act_f_flg = True
        c0.act_f = c1.act_f = action
    return head, node_cnt


def _gen_32(conds: Sequence[tuple[int, Op, int, int]], action: Any) -> tuple[_Node | None, int]:
    head: _Node | None = None
    prev: _Node | None = None
    cur: _Node | None = None
    tf = True
    node_cnt = 0
    for arg, op, mask, datum in conds:
        if op is Op.MASKED_EQ and mask & M32 == 0:
            continue
        nop = {Op.NE: Op.EQ, Op.LT: Op.GE, Op.LE: Op.GT}.get(op, op)
        cur = _Node(arg, False, nop, op, mask & M32, datum & M32, datum)
        if prev is not None:
            if tf:
                prev.nxt_t = _get(cur)
            else:
                prev.nxt_f = _get(cur)
        else:
            head = _get(cur)
        node_cnt += 1
        tf = op not in (Op.NE, Op.LT, Op.LE)
        prev = cur
    if cur is None:
        return None, 0
    if tf:
        cur.act_t_flg, cur.act_t = True, action
    else:
        cur.act_f_flg, cur.act_f = True, action
    return head, node_cnt


class RuleDb:
    """``struct db_filter`` of one ABI: the syscall trees, built rule by rule.
    ``wide`` is ARCH_SIZE_64 (x86_64); i386 and x32 are 32-bit to libseccomp."""

    def __init__(self, wide: bool) -> None:
        self.wide = wide
        self.syscalls: dict[int, SyscallTree] = {}

    def add(self, num: int, action: int, payload: Any,
            conds: Sequence[tuple[int, Op, int, int]]) -> None:
        """``db_rule_add``: ``action`` is the SCMP_ACT_* value libseccomp compares,
        ``payload`` what :meth:`SyscallTree.decide` returns for it; ``conds`` (arg, op,
        mask, datum), at most one per argument.  Raises :class:`Conflict`."""
        act = (action, payload)
        ordered = sorted(conds, key=lambda c: c[0])
        chains, node_cnt = (_gen_64 if self.wide else _gen_32)(ordered, act)
        s = self.syscalls.get(num)
        rm_flag = False
        while True:
            if s is None:
                s = self.syscalls[num] = SyscallTree(num)
                s.chains, s.node_cnt = chains, node_cnt
                s.action = act if chains is None else None
                return
            if s.chains is None:
                if rm_flag or not s.valid:
                    s.chains, s.node_cnt, s.valid = chains, node_cnt, True
                    s.action = act if chains is None else None
                else:
                    _tree_put(_local(chains))
                return
            if chains is None:
                _tree_put(_Ptr(s, "chains"))
                s.chains, s.node_cnt, s.action = None, 0, act
                return
            state = _State(s, action)
            rc = _prune(s.chains, chains, state)
            if rc > 0:
                rm_flag = True
                s.node_cnt -= rc
                if s.chains is None:
                    continue
            elif state.flags & _M_REDUNDANT == _M_REDUNDANT:
                _tree_put(_local(chains))
                return
            break
        state = _State(s, 0)
        if _tree_add(_Ptr(s, "chains"), chains, state) < 0:
            raise Conflict(num)
        s.node_cnt += node_cnt
        s.node_cnt -= _tree_put(_local(chains))
