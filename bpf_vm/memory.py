"""The program's address space: bounds-checked regions in one 64-bit space.

Each region owns one slot of the address space.  Slot ``n`` starts at ``n << 44``
(16 TiB apart) and its region occupies at most the first 4 GiB of it, so an address
translates with one dict lookup on ``addr >> 32`` plus a bounds check on the low 32 bits.
That keeps a load or store at a few bytecodes in the interpreter, and a pointer that walks
off its region by anything less than 16 TiB lands in unmapped space, never in another
region: an access outside every region is a fault, as the kernel's verifier would have
refused the program.

Fixed slots::

    0            NULL (never mapped: reads of small addresses fault as NULL dereferences)
    1 .. 8       the stacks of call frames 0..7, 512 bytes each, r10 = base + 512
    9            the context (r1 at entry): pt_regs, or the conformance input memory
    14           code pointers (ld_imm64 BPF_PSEUDO_FUNC); never readable
    15           map handles (ld_imm64 BPF_PSEUDO_MAP_FD); never readable
    16 ..        map values, global data, ring-buffer records: allocated on demand
"""

from __future__ import annotations

from dataclasses import dataclass

from .isa import MAX_BPF_STACK, MAX_CALL_FRAMES

REGION_SHIFT = 32          # addr >> REGION_SHIFT is the table key
SLOT_SHIFT = 44            # slot n starts at n << SLOT_SHIFT
KEY_SHIFT = SLOT_SHIFT - REGION_SHIFT
OFFSET_MASK = (1 << REGION_SHIFT) - 1
STACK_SLOT = 1
CTX_SLOT = 9
CODE_SLOT = 14
MAP_HANDLE_SLOT = 15
FIRST_DYNAMIC_SLOT = 16
_CTX_KEY = CTX_SLOT << KEY_SHIFT

#: MAX_BPF_STACK zero bytes, to clear a stack with ``buf[:] = ZERO_STACK``.  A bytearray
#: (never written): CPython copies a bytearray source into a bytearray slice directly, and
#: converts any other source to a new bytearray first (four times slower for 512 bytes).
ZERO_STACK = bytearray(MAX_BPF_STACK)


def slot_base(slot: int) -> int:
    return slot << SLOT_SHIFT


def slot_of(addr: int) -> int | None:
    """The slot an address belongs to, or None when it lies in a gap between slots."""
    key = addr >> REGION_SHIFT
    return None if key & ((1 << KEY_SHIFT) - 1) else key >> KEY_SHIFT


def stack_top(depth: int) -> int:
    """r10 of the call frame at ``depth`` (0 = the program's entry frame)."""
    return slot_base(STACK_SLOT + depth) + MAX_BPF_STACK


@dataclass(eq=False, slots=True)
class Region:
    """A mapped range.  ``buf`` is shared with its owner (a map value, a stack) so that
    a program's writes through a pointer are the owner's data, not a copy."""
    slot: int
    buf: bytearray
    writable: bool
    name: str

    @property
    def base(self) -> int:
        return self.slot << SLOT_SHIFT

    @property
    def size(self) -> int:
        return len(self.buf)


class AddressSpace:
    """Region table.  ``table`` maps slot -> (buffer, size, writable) and is read directly
    by the interpreter's generated code; the rest of the VM goes through the methods."""

    def __init__(self) -> None:
        self.table: dict[int, tuple[bytearray, int, bool]] = {}
        self.regions: dict[int, Region] = {}
        self._next_slot = FIRST_DYNAMIC_SLOT
        self._free: list[int] = []
        self.stacks = [self.map(bytearray(MAX_BPF_STACK), True, f"stack frame {d}",
                                slot=STACK_SLOT + d) for d in range(MAX_CALL_FRAMES)]
        self._context = Region(CTX_SLOT, bytearray(), False, "context")
        #: Memory handed out to a program that it must give back through a helper
        #: (ring-buffer records: bpf_ringbuf_submit/discard), by base address: the
        #: object that handed it out.  Its owners keep it; helpers look addresses up.
        self.lent: dict[int, object] = {}

    def map(self, buf: bytearray, writable: bool, name: str, slot: int | None = None) -> Region:
        if slot is None:
            slot = self._free.pop() if self._free else self._alloc_slot()
        region = Region(slot, buf, writable, name)
        self.regions[slot] = region
        self.table[slot << KEY_SHIFT] = (buf, len(buf), writable)
        return region

    def _alloc_slot(self) -> int:
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def remap(self, region: Region, buf: bytearray) -> int:
        """Map an unmapped dynamic ``region`` again, now over ``buf``, at the slot
        :meth:`map` would pick (the most recently freed one, else a new one), so that
        an owner may reuse its Region objects; returns the region's base address."""
        slot = self._free.pop() if self._free else self._alloc_slot()
        region.slot = slot
        region.buf = buf
        self.regions[slot] = region
        self.table[slot << KEY_SHIFT] = (buf, len(buf), region.writable)
        return slot << SLOT_SHIFT

    def unmap(self, region: Region) -> None:
        """Remove a region; later accesses through stale pointers fault.  The slot is
        recycled only for dynamic regions."""
        if self.regions.get(region.slot) is region:
            del self.regions[region.slot]
            del self.table[region.slot << KEY_SHIFT]
            if region.slot >= FIRST_DYNAMIC_SLOT:
                self._free.append(region.slot)

    def set_context(self, buf: bytearray, writable: bool, name: str = "context") -> Region:
        """Map the context (at every run: one Region object is reused)."""
        region = self._context
        region.buf = buf
        region.writable = writable
        region.name = name
        self.regions[CTX_SLOT] = region
        self.table[_CTX_KEY] = (buf, len(buf), writable)
        return region

    def clear_context(self) -> None:
        """Unmap the context: later accesses through it fault."""
        if self.regions.pop(CTX_SLOT, None) is not None:
            del self.table[_CTX_KEY]

    def translate(self, addr: int, size: int, write: bool = False) -> tuple[bytearray, int] | None:
        entry = self.table.get(addr >> REGION_SHIFT)
        if entry is None or size < 0:
            return None
        buf, limit, writable = entry
        off = addr & OFFSET_MASK
        if off + size > limit or (write and not writable):
            return None
        return buf, off

    def read(self, addr: int, size: int) -> bytes | None:
        """Bytes at [addr, addr+size), or None when any of them is not mapped."""
        t = self.translate(addr, size)
        return None if t is None else bytes(t[0][t[1]:t[1] + size])

    def write(self, addr: int, data: bytes) -> bool:
        t = self.translate(addr, len(data), write=True)
        if t is None:
            return False
        t[0][t[1]:t[1] + len(data)] = data
        return True

    def describe(self, addr: int, size: int, write: bool) -> str:
        """Why an access faults, for the error message."""
        what = "write" if write else "read"
        head = f"invalid {what} of {size} bytes at 0x{addr:x}"
        slot = slot_of(addr)
        region = self.regions.get(slot) if slot is not None else None
        if region is None:
            if addr < (1 << 32):
                return f"{head} (NULL pointer dereference)"
            if slot == CODE_SLOT:
                return f"{head} (a function pointer is not data)"
            if slot == MAP_HANDLE_SLOT:
                return f"{head} (a map pointer is not data; use a map helper)"
            return f"{head} (not in any region)"
        off = addr & OFFSET_MASK
        if write and not region.writable and off + size <= region.size:
            return f"{head} ({region.name} is read-only)"
        if region.slot < CTX_SLOT and region.slot >= STACK_SLOT:
            rel = off - MAX_BPF_STACK
            return f"{head} (r10{rel:+d} is outside {region.name}, which spans r10-512..r10)"
        return f"{head} (offset {off} outside {region.name} of {region.size} bytes)"
