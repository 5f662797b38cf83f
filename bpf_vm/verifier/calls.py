"""Helper calls (check_helper_call): availability for the program type, each argument
against the prototype's type, map/function compatibility, the return value's state,
reference acquisition and release (ring-buffer records)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..helper_table import TAIL_CALL_PROTO, ArgType, HelperProto, RetType
from ..insn import Insn
from ..maps.spec import MapType
from ._helper_availability import AVAILABLE
from .ctx import ProgKind
from .errors import Refuse
from .kdisasm import helper_text
from .mem import check_ptr_off, helper_mem
from .protos import KERNEL_PROTOS, MIGHT_SLEEP
from .regs import NOT_INIT, RT, Reg, type_name
from .scalar import Scalar
from .state import SLOT, Ref, Slot

if TYPE_CHECKING:
    from .core import Checker

_MEM_EXPECTED = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
BPF_MAX_VAR_SIZ = 1 << 29
LOOP = 181
FOR_EACH = 164
TAIL_CALL = 12

#: map types a helper needs (check_map_func_compatibility, the helper side)
_NEEDS = {
    "tail_call": {MapType.PROG_ARRAY},
    "ringbuf_output": {MapType.RINGBUF}, "ringbuf_reserve": {MapType.RINGBUF},
    "ringbuf_query": {MapType.RINGBUF},
    "perf_event_output": {MapType.PERF_EVENT_ARRAY}, "perf_event_read": {
        MapType.PERF_EVENT_ARRAY}, "perf_event_read_value": {MapType.PERF_EVENT_ARRAY},
    "get_stackid": {MapType.STACK_TRACE},
    "current_task_under_cgroup": {MapType.CGROUP_ARRAY},
    "map_push_elem": {MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER},
    "map_pop_elem": {MapType.QUEUE, MapType.STACK},
    "map_peek_elem": {MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER},
}
#: helpers a map type allows (the map side); types not listed allow the generic ones
_ONLY = {
    MapType.PROG_ARRAY: {"tail_call"},
    MapType.RINGBUF: {"ringbuf_output", "ringbuf_reserve", "ringbuf_query",
                      "ringbuf_reserve_dynptr"},
    MapType.PERF_EVENT_ARRAY: {"perf_event_read", "perf_event_output",
                               "perf_event_read_value", "skb_output", "xdp_output"},
    MapType.STACK_TRACE: {"get_stackid"},
    MapType.CGROUP_ARRAY: {"skb_under_cgroup", "current_task_under_cgroup"},
    MapType.QUEUE: {"map_peek_elem", "map_pop_elem", "map_push_elem"},
    MapType.STACK: {"map_peek_elem", "map_pop_elem", "map_push_elem"},
    MapType.BLOOM_FILTER: {"map_peek_elem", "map_push_elem"},
}
_ARRAYS = (MapType.ARRAY, MapType.PERCPU_ARRAY)
#: helpers that write a map (refused on a map read-only for programs)
_WRITES_MAP = frozenset({2, 3, 87, 88})


@dataclass
class _Meta:
    map: Any = None
    key_const: int | None = None
    mem_size: int | None = None
    release: int = 0
    func: Reg | None = None


#: bpf_override_return: kprobes may call it in a kernel built with
#: CONFIG_BPF_KPROBE_OVERRIDE (Debian's, Ubuntu's, Fedora's); the host the table was
#: measured on lacks the option, and trace-run's policies and injections need it.
OVERRIDE_RETURN = 58


def available(kind: ProgKind, func_id: int) -> bool:
    """May a program of ``kind`` call helper ``func_id``?  The host's measured answer,
    with the one kernel option trace-run depends on turned on."""
    if func_id == OVERRIDE_RETURN:
        return kind is ProgKind.KPROBE
    return func_id in AVAILABLE[kind.value]


def proto_for(v: Checker, func_id: int) -> HelperProto | None:
    if func_id == TAIL_CALL:
        return TAIL_CALL_PROTO
    h = v.helpers.get(func_id)
    if h is not None:
        return h.proto
    return KERNEL_PROTOS.get(func_id)


def check_helper_call(v: Checker, pc: int, insn: Insn) -> int | None:
    """Check the call at ``pc``; returns the callback's start pc for bpf_loop."""
    func_id = insn.imm
    proto = proto_for(v, func_id)
    from .._generated_helper_ids import HELPER_NAMES
    name = HELPER_NAMES.get(func_id)
    own = func_id not in HELPER_NAMES and v.helpers.get(func_id) is not None
    if own:   # the front end's own helper (trace-run's bpf_seccomp_return)
        name = v.helpers.get(func_id).proto.name  # type: ignore[union-attr]
    elif func_id < 0 or func_id > max(HELPER_NAMES):
        raise Refuse(f"invalid func {helper_text(func_id)}", errno=22)
    if name is None or proto is None or not (own or available(v.kind, func_id)):
        raise Refuse(f"program of this type cannot use helper {helper_text(func_id)}",
                     errno=22)
    if proto.gpl_only and not v.gpl:
        raise Refuse("cannot call GPL-restricted function from non-GPL compatible program",
                     errno=22)
    if func_id in MIGHT_SLEEP and v.kind is not ProgKind.SYSCALL:
        raise Refuse("helper call might sleep in a non-sleepable prog", errno=22)
    meta = _Meta()
    r1 = v.reg(1)
    loops_zero = r1.is_const and r1.s.value & 0xFFFFFFFF == 0
    if func_id == TAIL_CALL:
        check_tail_call(v)
    for i, arg in enumerate(proto.args):
        _check_arg(v, i + 1, arg, proto, meta, name)
    if meta.map is not None:
        _compat(meta.map, name, func_id)
        if func_id in _WRITES_MAP and not getattr(meta.map, "prog_writable", True):
            raise Refuse("write into map forbidden")
    if meta.release:
        _release(v, meta.release)
    cb = None
    if func_id in (LOOP, FOR_EACH) and meta.func is not None:
        cb = meta.func.subprog
        if func_id == LOOP and loops_zero:   # bpf_loop(0, ...) never calls back
            cb = None
    for r in range(1, 6):
        v.write(r, NOT_INIT, scratch=False)
    v.write(0, _ret(v, pc, proto, meta))
    if func_id == TAIL_CALL:
        v.note_tail_call()
    return cb


def check_tail_call(v: Checker) -> None:
    """What the kernel checks of a tail call beyond its arguments."""
    if v.st.refs:
        raise Refuse("tail_call would lead to reference leak")
    if v.st.cur.subprog and not v.func_info:
        raise Refuse("tail_call is not allowed in subprogs without BTF", errno=22)


def _check_arg(v: Checker, regno: int, arg: ArgType, proto: HelperProto, meta: _Meta,
               name: str) -> None:
    if arg is ArgType.DONTCARE:
        return
    reg = v.read(regno)
    if arg is ArgType.ANYTHING:
        if reg.is_pointer and not v.privileged:
            raise Refuse(f"R{regno} leaks addr into helper function")
        return
    if arg is ArgType.CONST_MAP_PTR:
        if reg.type is not RT.MAP_PTR:
            raise Refuse(f"R{regno} type={type_name(reg)} expected=map_ptr")
        meta.map = reg.map
        if name == "tail_call" and reg.map.type != MapType.PROG_ARRAY:
            raise Refuse("expected prog array map for tail call", newline=False, errno=22)
        return
    if arg is ArgType.PTR_TO_CTX:
        if reg.type is not RT.CTX or reg.null:
            raise Refuse(f"R{regno} type={type_name(reg)} expected=ctx")
        check_ptr_off(regno, reg)
        return
    if arg in (ArgType.PTR_TO_MAP_KEY, ArgType.PTR_TO_MAP_VALUE):
        if meta.map is None:
            part = "key" if arg is ArgType.PTR_TO_MAP_KEY else "value"
            raise Refuse(f"invalid map_ptr to access map->{part}")
        _mem_arg(v, regno, reg)
        size = meta.map.key_size if arg is ArgType.PTR_TO_MAP_KEY else meta.map.value_size
        if size == 0:   # a map without keys (a ring buffer) given to a keyed helper
            raise Refuse("invalid zero-sized read")
        helper_mem(v, regno, size, size, False)
        if arg is ArgType.PTR_TO_MAP_KEY:
            meta.key_const = _const_key(v, reg, size)
        return
    if arg in (ArgType.PTR_TO_MEM, ArgType.PTR_TO_UNINIT_MEM, ArgType.PTR_TO_MEM_OR_NULL):
        if arg is ArgType.PTR_TO_MEM_OR_NULL and reg.is_const and reg.s.value == 0:
            meta.mem_size = -1
            return
        _mem_arg(v, regno, reg)
        meta.mem_size = regno
        return
    if arg in (ArgType.CONST_SIZE, ArgType.CONST_SIZE_OR_ZERO):
        _size_arg(v, regno, reg, meta, arg is ArgType.CONST_SIZE_OR_ZERO, proto)
        return
    if arg is ArgType.CONST_ALLOC_SIZE_OR_ZERO:
        if not reg.is_const:
            raise Refuse(f"R{regno} is not a known constant'")
        meta.mem_size = reg.s.value
        return
    if arg is ArgType.PTR_TO_FUNC:
        if reg.type is not RT.FUNC:
            raise Refuse(f"R{regno} type={type_name(reg)} expected=func")
        meta.func = reg
        return
    if arg is ArgType.PTR_TO_STACK_OR_NULL:
        if reg.is_const and reg.s.value == 0:
            return
        if reg.type is not RT.STACK:
            raise Refuse(f"R{regno} type={type_name(reg)} expected=fp")
        return
    if arg is ArgType.PTR_TO_ALLOC_MEM:
        if reg.type is not RT.MEM or not reg.ringbuf or reg.null:
            raise Refuse(f"R{regno} type={type_name(reg)} expected=ringbuf_mem")
        if reg.off or not reg.s.is_const() or reg.s.value:
            raise Refuse(f"R{regno} must have zero offset when passed to release func or "
                         f"trusted arg to kfunc")
        if not reg.ref_obj_id:
            raise Refuse(f"R{regno} must be referenced when passed to release func")
        meta.release = reg.ref_obj_id
        return
    if arg is ArgType.PTR_TO_CONST_STR:
        if reg.type is not RT.MAP_VALUE or reg.null:
            raise Refuse(f"R{regno} type={type_name(reg)} expected=map_value")
        return
    raise Refuse(f"R{regno} unsupported arg type {arg.value}")


def _mem_arg(v: Checker, regno: int, reg: Reg) -> None:
    if reg.type not in (RT.STACK, RT.MAP_VALUE, RT.MAP_KEY, RT.MEM, RT.PACKET) or reg.null:
        raise Refuse(f"R{regno} type={type_name(reg)} expected={_MEM_EXPECTED}")


def _size_arg(v: Checker, regno: int, reg: Reg, meta: _Meta, zero_ok: bool,
              proto: HelperProto) -> None:
    if not reg.is_scalar:
        raise Refuse(f"R{regno} type={type_name(reg)} expected=scalar")
    s = reg.s
    if s.smin < 0:
        raise Refuse(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
    if s.umax == 0 and not zero_ok:
        raise Refuse(f"R{regno} invalid zero-sized read: u64=[{s.umin},{s.umax}]")
    if s.umax >= BPF_MAX_VAR_SIZ:
        raise Refuse(f"R{regno} unbounded memory access, use 'var &= const' or "
                     f"'if (var < const)'")
    mem_reg = meta.mem_size if meta.mem_size is not None else regno - 1
    if mem_reg < 0:
        return
    arg = proto.args[mem_reg - 1]
    helper_mem(v, mem_reg, s.umin, s.umax, arg is ArgType.PTR_TO_UNINIT_MEM, zero_ok)
    meta.mem_size = None


def _const_key(v: Checker, reg: Reg, size: int) -> int | None:
    """The key's value when it is a known constant on the stack (spilled or zeroes)."""
    if reg.type is not RT.STACK or not reg.s.is_const() or size > SLOT:
        return None
    start = reg.off + reg.s.value if reg.s.value < (1 << 63) else None
    if start is None:
        return None
    frame = v.st.frames[reg.frameno] if reg.frameno < len(v.st.frames) else v.st.cur
    spi = (-start - 1) // SLOT
    slot = frame.stack.get(spi, Slot())
    if start % SLOT == 0 and slot.is_spill and slot.spill_size() == size and \
            slot.spilled.is_const:
        return slot.spilled.s.value & ((1 << (8 * size)) - 1)
    idxs = [(-a - 1) % SLOT for a in range(start, start + size)]
    if all(slot.types[i] == "0" for i in idxs) and (-(start + size - 1) - 1) // SLOT == spi:
        return 0
    return None


def _compat(m: Any, name: str, func_id: int) -> None:
    mtype = MapType(m.type)
    only = _ONLY.get(mtype)
    need = _NEEDS.get(name)
    if (only is not None and name not in only) or (need is not None and mtype not in need):
        raise Refuse(f"cannot pass map_type {int(mtype)} into func {helper_text(func_id)}",
                     errno=22)


def _release(v: Checker, ref_id: int) -> None:
    v.st.refs = tuple(r for r in v.st.refs if r.id != ref_id)
    for f in v.st.frames:
        for i, r in enumerate(f.regs):
            if r.ref_obj_id == ref_id:
                f.regs[i] = Reg.unknown() if v.privileged else NOT_INIT
        for spi, slot in list(f.stack.items()):
            if slot.is_spill and slot.spilled.ref_obj_id == ref_id:
                f.stack[spi] = Slot(slot.types, Reg.unknown())


def _ret(v: Checker, pc: int, proto: HelperProto, meta: _Meta) -> Reg:
    ret = proto.ret
    if ret is RetType.VOID:
        return NOT_INIT
    if ret is RetType.INTEGER:
        return Reg.unknown()
    if ret is RetType.PTR_TO_MAP_VALUE_OR_NULL:
        m = meta.map
        if m is not None and m.type in _ARRAYS and meta.key_const is not None and \
                meta.key_const < m.max_entries:
            return Reg(RT.MAP_VALUE, map=m)
        return Reg(RT.MAP_VALUE, map=m, null=True, id=v.new_id())
    if ret is RetType.PTR_TO_ALLOC_MEM_OR_NULL:
        v.new_id()  # the _or_null id, replaced by the reference's (as the kernel does)
        ref = v.new_id()
        v.st.refs = (*v.st.refs, Ref(ref, pc))
        size = meta.mem_size if isinstance(meta.mem_size, int) and meta.mem_size >= 0 else 0
        return Reg(RT.MEM, ringbuf=True, null=True, id=ref, ref_obj_id=ref, mem_size=size)
    return Reg.unknown()


def unknown_scalar() -> Reg:
    return Reg.scalar(Scalar.unknown())


__all__ = ["check_helper_call", "replace"]
