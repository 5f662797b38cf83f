"""The verifier's state at one instruction: call frames, their registers and stack slots,
and the references the program holds (``struct bpf_verifier_state``).

A stack slot covers 8 bytes.  Its ``types`` string has one character per byte in the
kernel's order (index 0 is the byte at the slot's highest address, as the log prints it):
``?`` never written, ``m`` some data, ``0`` a known zero, ``r`` part of a spilled
register, whose state is ``spilled``.  States are copied at every branch, so frames hold
tuples and dicts that are copied shallowly; registers and slots are immutable values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .regs import NOT_INIT, RT, Reg, fmt_reg

SLOT = 8
INVALID = "?" * SLOT


@dataclass(frozen=True, slots=True)
class Slot:
    types: str = INVALID
    spilled: Reg = NOT_INIT

    @property
    def is_spill(self) -> bool:
        return self.types[SLOT - 1] == "r"

    def spill_size(self) -> int:
        n = 0
        for c in reversed(self.types):
            if c != "r":
                break
            n += 1
        return n


@dataclass(slots=True)
class Frame:
    """One function's frame: registers r0-r10 and the stack slots written so far
    (spi -> Slot, spi 0 is fp-8..fp-1).  ``callsite`` is the pc of the call that made
    the frame (-1 for the main program), ``subprog`` its index, ``depth`` the deepest
    stack byte touched, as the kernel's ``stack_depth``.  ``callback`` marks a frame of a
    bpf_loop callback, whose return value is checked."""
    regs: list[Reg]
    stack: dict[int, Slot] = field(default_factory=dict)
    callsite: int = -1
    subprog: int = 0
    frameno: int = 0
    callback: bool = False
    cb_ret_pc: int = -1

    def copy(self) -> Frame:
        return Frame(list(self.regs), dict(self.stack), self.callsite, self.subprog,
                     self.frameno, self.callback, self.cb_ret_pc)


@dataclass(frozen=True, slots=True)
class Ref:
    """An acquired reference: its id and the instruction that acquired it."""
    id: int
    insn: int


@dataclass(slots=True)
class State:
    frames: list[Frame]
    refs: tuple[Ref, ...] = ()
    may_goto_depth: int = 0
    #: the (pc, prev_pc) history since the state was forked, for loop detection
    parent_pc: int = -1

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> State:
        return State([f.copy() for f in self.frames], self.refs, self.may_goto_depth,
                     self.parent_pc)


def fmt_slot(slot: Slot, cur_frame: int) -> str | None:
    if slot.is_spill:
        return fmt_reg(slot.spilled, cur_frame)
    if slot.types == INVALID:
        return None
    return slot.types


def fmt_state(st: State, *, regs: set[int] | None = None, slots: set[int] | None = None,
              frame: Frame | None = None, precise: bool = False) -> str:
    """The kernel's state line: `` R1=ctx() R10=fp0 fp-8=mmmmmmmm refs=2`` (each item
    preceded by a space).  With ``regs``/``slots`` only those (the scratched ones)."""
    f = frame if frame is not None else st.cur
    out: list[str] = [f" frame{f.frameno}:"] if f.frameno else []
    for i, r in enumerate(f.regs):
        if r.type is RT.NOT_INIT or (regs is not None and i not in regs):
            continue
        out.append(f" R{i}={fmt_reg(r, f.frameno, precise)}")
    for spi in sorted(f.stack):
        if slots is not None and spi not in slots:
            continue
        text = fmt_slot(f.stack[spi], f.frameno)
        if text is not None:
            out.append(f" fp{-(spi + 1) * SLOT}={text}")
    if st.refs:
        out.append(" refs=" + ",".join(str(r.id) for r in st.refs))
    return "".join(out)


def fmt_items(regs: list[tuple[int, Reg]], slots: list[tuple[int, Slot]],
              refs: tuple[Ref, ...], frameno: int) -> str:
    """:func:`fmt_state` of chosen registers and slots (captured when the instruction
    ran, spelled when the log is read)."""
    out = [f" frame{frameno}:"] if frameno else []
    out += [f" R{i}={fmt_reg(r, frameno)}" for i, r in sorted(regs, key=lambda x: x[0])
            if r.type is not RT.NOT_INIT]
    for spi, slot in sorted(slots, key=lambda x: x[0]):
        text = fmt_slot(slot, frameno)
        if text is not None:
            out.append(f" fp{-(spi + 1) * SLOT}={text}")
    if refs:
        out.append(" refs=" + ",".join(str(r.id) for r in refs))
    return "".join(out)
