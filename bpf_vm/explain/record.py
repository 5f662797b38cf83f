"""Recording a run for the explorer page: the VM's :class:`~bpf_vm.engine.loops.Step`
hook turned into compact step records.

``Vm.run(program, ctx, trace=recorder.hook)`` reports every executed instruction with
the registers before and after it.  :class:`RunRecorder` keeps, per step, only what
changed, and adds what the step did to memory and maps, which the VM's step does not
carry:

* loads and stores: the address, the bytes read or written and, for a write, the bytes
  that were there before (the recorder keeps a shadow copy of each region it has seen a
  pointer to: the stacks, the context, map values, ring-buffer records);
* helper calls: every byte they changed in those regions (``bpf_probe_read_user`` into
  the stack), found by comparing the shadows after the call;
* map accesses: ``bpf_map_lookup_elem``/``update``/``delete`` with the key and value,
  and loads and stores through a pointer a lookup returned, each as an access of one
  entry (map name, key);
* tail calls: the prog array, the index, the program it switched to and the count.

A step record is a dict with short keys, omitted when empty (the page's data format,
:mod:`bpf_vm.explain.page`): ``p`` program index, ``pc``, ``d`` frame depth, ``e`` event
(``call``, ``exit``, ``tail``, ``tailx`` for a tail call that fell through), ``r``
changed registers ``[reg, hex, ...]`` (values after), ``m`` memory accesses ``[["r"|"w",
addr hex, bytes hex, old bytes hex (writes)], ...]``, ``k`` map-entry accesses
``[[entry, "l"|"u"|"d"|"r"|"w", value hex or null, value before (a write through a
pointer)], ...]``, ``x`` a tail call
``[prog array, index, target or null, count]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..insn import Insn
from ..isa import SIZE_BYTES, CallKind, Kind, Size
from ..memory import (
    CTX_SLOT,
    FIRST_DYNAMIC_SLOT,
    MAP_HANDLE_SLOT,
    OFFSET_MASK,
    STACK_SLOT,
    slot_of,
)

if TYPE_CHECKING:
    from ..effects import Effects
    from ..engine.loops import Step
    from ..program import Program
    from ..vm import Vm

M64 = (1 << 64) - 1
#: steps recorded per run at most (a run that loops for its whole budget would make a
#: page of a million steps); the rest of the run is not recorded
MAX_STEPS = 200_000
_LOOKUP, _UPDATE, _DELETE, _TAIL_CALL = 1, 2, 3, 12
_EVENTS = {"call": "call", "exit": "exit", "tail_call": "tail", "tail_call_failed": "tailx"}


def _hex(v: int) -> str:
    return format(v & M64, "x")


class RunRecorder:
    """One run's steps.  Pass :attr:`hook` as ``Vm.run``'s ``trace``; call
    :meth:`finish` after the run.  ``programs`` maps a program's name to its index in
    the page (:class:`~bpf_vm.explain.page.Explorer` assigns them)."""

    def __init__(self, vm: Vm, programs: dict[str, tuple[int, Program]], entry: str,
                 info: dict[str, Any] | None = None, max_steps: int = MAX_STEPS) -> None:
        self.vm = vm
        self.max_steps = max_steps
        self.truncated = False
        self.programs = programs
        self.entry = entry
        self.info: dict[str, Any] = dict(info or {})
        self.steps: list[dict[str, Any]] = []
        self.regs0: list[int] | None = None
        self.ctx: bytes | None = None
        self.regions: dict[int, str] = {}
        self.entries: list[list[str]] = []
        self._entry_ids: dict[tuple[str, str], int] = {}
        self._shadow: dict[int, bytearray] = {}     # slot -> bytes as last seen
        self._bufs: dict[int, bytearray] = {}       # slot -> the region's buffer then
        self._ptrs: dict[int, list[tuple[int, int, int]]] = {}  # slot -> (off, size, entry)
        self.tail_calls = 0
        self.last_regs: list[int] | None = None
        self.result: dict[str, Any] = {}

    # -- the hook ------------------------------------------------------------------------

    def hook(self, step: Step) -> None:
        if self.regs0 is None:
            self._start(step)
        if len(self.steps) >= self.max_steps:
            self.truncated = True
            return
        known = self.programs.get(step.program)
        if known is None:     # a program reached that the page was not told of
            cur = self.vm.state.cur
            if cur is None or cur.program.name != step.program:
                return
            known = self.programs[step.program] = (len(self.programs), cur.program)
        idx, program = known
        insn = program.insns[step.pc] if step.pc < len(program.insns) else None
        rec: dict[str, Any] = {"p": idx, "pc": step.pc}
        if step.depth:
            rec["d"] = step.depth
        event = _EVENTS.get(step.event)
        if event:
            rec["e"] = event
        before, after = step.before, step.after
        changed: list[Any] = []
        for i in range(11):
            if before[i] != after[i]:
                changed += [i, _hex(after[i])]
        if changed:
            rec["r"] = changed
        if event == "call":
            self._track(STACK_SLOT + step.depth + 1, fresh=True)
        if insn is not None:
            kind = insn.kind
            if kind in (Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC):
                self._memory(rec, insn, before)
            elif kind is Kind.CALL and insn.src == CallKind.HELPER:
                self._helper(rec, insn.imm, before, after)
        for i in range(11):
            if before[i] != after[i]:
                self._seen(after[i])
        self.steps.append(rec)
        self.last_regs = after

    @property
    def last_r0(self) -> int | None:
        """r0 after the last recorded step (the run's result when it ended with exit)."""
        return self.last_regs[0] if self.last_regs is not None else None

    def _start(self, step: Step) -> None:
        self.regs0 = list(step.before)
        region = self.vm.space.regions.get(CTX_SLOT)
        self.ctx = bytes(region.buf) if region is not None else None
        self._track(STACK_SLOT + step.depth, fresh=True)
        for v in step.before:
            self._seen(v)

    # -- regions -------------------------------------------------------------------------

    def _track(self, slot: int, fresh: bool = False) -> None:
        region = self.vm.space.regions.get(slot)
        if region is None:
            return
        self._bufs[slot] = region.buf
        self._shadow[slot] = bytearray(len(region.buf)) if fresh else bytearray(region.buf)
        if slot >= FIRST_DYNAMIC_SLOT or slot == CTX_SLOT:
            self.regions[slot] = region.name

    def _seen(self, value: int) -> None:
        """A register now holds ``value``: when it points into a region not tracked
        yet (or remapped since), start tracking it."""
        slot = slot_of(value)
        if slot is None or slot == 0 or slot == MAP_HANDLE_SLOT:
            return
        region = self.vm.space.regions.get(slot)
        if region is not None and self._bufs.get(slot) is not region.buf:
            self._track(slot)
            self._ptrs.pop(slot, None)

    def _diff(self, slot: int) -> list[list[str]]:
        """The byte ranges of ``slot`` that changed since its shadow, as write records."""
        buf, shadow = self._bufs[slot], self._shadow[slot]
        if buf == shadow:
            return []
        out = []
        base = slot << 44
        n = min(len(buf), len(shadow))
        i = 0
        while i < n:
            if buf[i] == shadow[i]:
                i += 1
                continue
            j = i
            while j < n and buf[j] != shadow[j]:
                j += 1
            out.append(["w", _hex(base + i), bytes(buf[i:j]).hex(), bytes(shadow[i:j]).hex()])
            shadow[i:j] = buf[i:j]
            i = j
        return out

    # -- loads, stores, helpers ------------------------------------------------------------

    def _memory(self, rec: dict[str, Any], insn: Insn, before: list[int]) -> None:
        spec = insn.spec
        assert spec is not None
        size = SIZE_BYTES[spec.size if spec.size is not None else Size.DW]
        base = before[insn.src] if insn.kind is Kind.LDX else before[insn.dst]
        addr = (base + insn.off) & M64
        slot = slot_of(addr)
        if slot is not None and slot not in self._bufs:
            self._seen(addr)
        data = self.vm.space.read(addr, size)
        if data is None:
            return
        accesses: list[list[Any]] = []
        writes = insn.kind is not Kind.LDX
        reads = insn.kind is Kind.LDX or insn.kind is Kind.ATOMIC
        old = None
        if writes and slot in self._shadow:
            off = addr & OFFSET_MASK
            shadow = self._shadow[slot]
            old = bytes(shadow[off:off + size])
            shadow[off:off + size] = data
        if reads:
            accesses.append(["r", _hex(addr), (old if writes and old is not None
                                               else data).hex()])
        if writes:
            accesses.append(["w", _hex(addr), data.hex()] + ([old.hex()] if old else []))
        rec["m"] = accesses
        if slot is not None and slot in self._ptrs:
            off = addr & OFFSET_MASK
            for start, vsize, entry in self._ptrs[slot]:
                if start <= off < start + vsize:
                    value = self.vm.space.read((slot << 44) + start, vsize)
                    access: list[Any] = [entry, "w" if writes else "r",
                                         value.hex() if value is not None else None]
                    if writes and old is not None and value is not None:
                        prior = bytearray(value)    # the entry as it was: old bytes back
                        at = off - start
                        prior[at:at + len(old)] = old[:len(prior) - at]
                        access.append(bytes(prior).hex())
                    rec["k"] = [access]
                    break

    def _entry(self, name: str, key: bytes) -> int:
        k = (name, key.hex())
        idx = self._entry_ids.get(k)
        if idx is None:
            idx = self._entry_ids[k] = len(self.entries)
            self.entries.append([name, key.hex()])
        return idx

    def _helper(self, rec: dict[str, Any], func: int, before: list[int], after: list[int]
                ) -> None:
        vm = self.vm
        writes: list[list[str]] = []
        for slot in sorted(self._bufs):
            if slot != CTX_SLOT:
                writes += self._diff(slot)
        if writes:
            rec["m"] = writes
        if func == _TAIL_CALL:
            arr = vm.map_at(before[2])
            index = before[3] & 0xFFFFFFFF
            target = None
            if rec.get("e") == "tail":
                self.tail_calls += 1
                prog = arr.program_at(index) if arr is not None else None
                target = prog.name if prog is not None else None
            # the VM's own counter (with TailCallCounting.INTERPRETER, failed attempts on
            # an empty slot count too)
            rec["x"] = [getattr(arr, "name", "?"), index, target, self.vm.state.tail_calls]
            return
        if func not in (_LOOKUP, _UPDATE, _DELETE):
            return
        m = vm.map_at(before[1])
        if m is None or not hasattr(m, "key_size"):
            return
        key = vm.space.read(before[2], m.key_size)
        if key is None:
            return
        entry = self._entry(m.name, key)
        if func == _LOOKUP:
            ptr = after[0]
            value = vm.space.read(ptr, m.value_size) if ptr else None
            if ptr:
                self._seen(ptr)
                vslot = slot_of(ptr)
                if vslot is not None:
                    self._ptrs.setdefault(vslot, []).append((ptr & OFFSET_MASK,
                                                             m.value_size, entry))
            rec["k"] = [[entry, "l", value.hex() if value is not None else None]]
        elif func == _UPDATE:
            value = vm.space.read(before[3], m.value_size)
            ok = after[0] == 0
            rec["k"] = [[entry, "u" if ok else "r",
                         value.hex() if value is not None and ok else None]]
        else:
            rec["k"] = [[entry, "d", None]]

    # -- the end -------------------------------------------------------------------------

    def finish(self, *, r0: int | None = None, error: str | None = None,
               effects: Effects | None = None) -> None:
        """What the run gave: r0, or the fault that ended it, and its output (the run's
        effects: printk lines, ring-buffer records)."""
        if r0 is not None:
            self.result["r0"] = _hex(r0)
        if error is not None:
            self.result["error"] = error
        if effects is not None:
            if effects.printk:
                self.result["printk"] = list(effects.printk)
            if effects.ringbuf:
                self.result["ringbuf"] = [[r.map, r.data.hex()] for r in effects.ringbuf]

    def data(self) -> dict[str, Any]:
        """The run as the page's data holds it."""
        regs0 = self.regs0 or [0] * 11
        return {**self.info, **self.result,
                "entry": self.programs[self.entry][0] if self.entry in self.programs else 0,
                "regs0": [_hex(v) for v in regs0],
                "ctx": self.ctx.hex() if self.ctx is not None else None,
                "regions": {str(k): v for k, v in sorted(self.regions.items())},
                "entries": self.entries, "tail_calls": self.tail_calls,
                **({"truncated": True} if self.truncated else {}),
                "steps": self.steps}


__all__ = ["RunRecorder"]
