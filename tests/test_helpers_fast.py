"""The hot helpers' fast paths against their general ones and against reference models.

* bpf_trace_printk renders a format of integer and pointer conversions with one
  %-operation (bprintf.int_renderer) and, without a printk sink, returns its length
  without building a line.  Random formats and arguments must give what the general,
  piece-by-piece path (bprintf.bind, compared with the kernel in test_helpers.py) gives:
  the same return value with and without a sink, the same trace_pipe line.
* Ring-buffer records are recycled (their Region objects reused once consumed).  Random
  reserve/write/submit/discard sequences must agree with a simple model of the kernel's
  ring (positions, reservation order, discards skipped), and no address of a record
  that was submitted or discarded may stay mapped unless a later reservation took it.
"""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpf_vm.errors import VmFault
from bpf_vm.helper_table import HelperFault
from bpf_vm.helpers import maps as map_helpers
from bpf_vm.helpers import printk
from bpf_vm.helpers.bprintf import (
    MAX_BPRINTF_BUF,
    MAX_TRACE_PRINTK_VARARGS,
    bind,
    bstr_printf,
    check,
    int_renderer,
    render,
)
from bpf_vm.host import FakeHost
from bpf_vm.maps import RingBuf, create_map
from bpf_vm.maps.spec import MapSpec
from bpf_vm.memory import AddressSpace
from bpf_vm.vm import Vm
from tests.hypothesis_profiles import examples
from tests.vm_kit import effects_of, load

M64 = (1 << 64) - 1

# --- printk ------------------------------------------------------------------------------

_INT_CONVS = ["d", "i", "u", "x", "X", "ld", "li", "lu", "lx", "lX", "lld", "lli", "llu",
              "llx", "llX", "p", "pK", "px"]
_OTHER_CONVS = ["c", "s", "ps", "pS", "pB", "hd", "zu", "o", "#x", "pa"]


@st.composite
def conversions(draw: st.DrawFn, other: bool) -> bytes:
    flags = draw(st.lists(st.sampled_from("0+- "), max_size=3))
    width = draw(st.one_of(st.none(), st.integers(1, 40)))
    conv = draw(st.sampled_from(_INT_CONVS + (_OTHER_CONVS if other else [])))
    return ("%" + "".join(flags) + ("" if width is None else str(width)) + conv).encode()


_LITERAL = st.binary(max_size=12).map(lambda b: bytes(c for c in b if c != 0 and c != 0x25))
_LITERALS = st.one_of(_LITERAL, st.sampled_from([b"%%", b" ", b"(", b", 0x", b"\n",
                                                 b"caf\xc3\xa9", b"\x07"]))


@st.composite
def formats(draw: st.DrawFn, other: bool = True) -> bytes:
    """Formats of up to 4 conversions (4 is refused: trace_printk takes 3 arguments).
    With ``other`` False, integer and pointer conversions only: a '|' after each keeps
    the text that follows from extending a %p into %ps, %pB, %pi4..."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 4))):
        parts.append(draw(_LITERALS))
        parts.append(draw(conversions(other)))
        if not other:
            parts.append(b"|")
    parts.append(draw(_LITERALS))
    return b"".join(parts)


_ARGS = st.lists(st.one_of(st.integers(0, M64), st.integers(-300, 300).map(lambda v: v & M64),
                           st.sampled_from([0, 1 << 31, (1 << 32) - 1, 1 << 63, M64])),
                 min_size=3, max_size=3)


class _NoSink(FakeHost):
    """A host without a printk sink: asking for anything a line needs is an error."""

    @property
    def printk_enabled(self) -> bool:
        return False

    def pid_tgid(self) -> tuple[int, int]:
        raise AssertionError("the pid is read only for a line")

    def comm(self) -> bytes:
        raise AssertionError("comm is read only for a line")


def _call_printk(host: FakeHost, fmt: bytes, args: list[int],
                 lines: list[str] | None = None) -> int:
    """bpf_trace_printk(fmt, len(fmt) + 1, *args) on a new VM whose memory holds fmt
    (a %s argument reads the host's user memory, empty: the string prints as "");
    the line it recorded, if any, is appended to ``lines``."""
    vm = Vm(host=host)
    data = bytearray(fmt + b"\0")
    region = vm.space.map(data, False, "fmt")
    rc = printk.trace_printk(vm.state, region.base, len(data), *args)
    if lines is not None:
        lines += effects_of(vm).printk
    return rc


def _general(fmt: bytes, args: list[int], host: FakeHost) -> tuple[int, bytes]:
    """(return value, text) by the general path: bind piece by piece, then render."""
    vm = Vm(host=host)
    form = check(fmt + b"\0", len(fmt) + 1, MAX_TRACE_PRINTK_VARARGS)
    pieces = printk._prepare(vm.state, form, args)
    if isinstance(pieces, int):
        return pieces, b""
    text = render(pieces)
    return len(text), text


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(formats(), _ARGS)
def test_printk_fast_path_returns_what_the_general_path_does(fmt: bytes,
                                                            args: list[int]) -> None:
    want, text = _general(fmt, args, FakeHost())
    host = FakeHost(comm=b"c", pid=7)
    lines: list[str] = []
    assert _call_printk(host, fmt, args, lines) == want
    assert _call_printk(_NoSink(), fmt, args) == want
    if want < 0:
        assert lines == []
    else:
        shown, full = bstr_printf([text], MAX_BPRINTF_BUF)
        assert full == want
        assert lines == [printk.trace_pipe_line(b"c", 7, host.now_ns, shown)]


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(formats(other=False), _ARGS)
def test_int_renderer_equals_bind(fmt: bytes, args: list[int]) -> None:
    form = check(fmt + b"\0", len(fmt) + 1, MAX_TRACE_PRINTK_VARARGS)
    fast = int_renderer(form)
    assert fast is not None                     # integers and pointers only
    pieces = bind(form, args, _no_strings, _no_strings)
    if form.error:
        assert pieces == form.error             # refused whatever the arguments
    else:
        assert isinstance(pieces, list) and fast(args) == render(pieces)


def _no_strings(*_: object) -> bytes | None:
    raise AssertionError("an integer format reads no memory")


@pytest.mark.parametrize("fmt", [b"%s", b"%c", b"%pB", b"%ps", b"%pI4", b"x%d %s"])
def test_int_renderer_declines_other_conversions(fmt: bytes) -> None:
    assert int_renderer(check(fmt + b"\0", len(fmt) + 1, 3)) is None


def test_printk_exact_lengths_and_lines() -> None:
    """Worked examples of the fast path (the probe's own formats among them)."""
    host = FakeHost(comm=b"dd", pid=5)
    lines: list[str] = []
    assert _call_printk(host, b"read(%d, 0x%lx, %lu)", [M64, 0x1000, 1], lines) == \
        len(b"read(-1, 0x1000, 1)")
    assert _call_printk(host, b"%5d|%-5x|%05u", [42, 255, 7], lines) == len(b"   42|ff   |00007")
    assert _call_printk(host, b"%px %p", [0xABC, 0, 0], lines) == 33
    assert _call_printk(host, b"100%%", [0, 0, 0], lines) == 4
    assert _call_printk(host, b"%d %d %d %d", [1, 2, 3], lines) == -errno.EINVAL
    assert _call_printk(host, b"%ld %hd", [1, 2, 3], lines) == -errno.EINVAL
    assert [line.split(": ", 2)[2] for line in lines] == \
        ["read(-1, 0x1000, 1)", "   42|ff   |00007", "0000000000000abc 0000000000000000",
         "100%"]


def test_printk_fmt_must_be_program_memory() -> None:
    vm = Vm(host=FakeHost())
    with pytest.raises(HelperFault, match="invalid read of 8 bytes"):
        printk.trace_printk(vm.state, 0x1234, 8, 0, 0, 0)


def test_printk_plan_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printk, "_MAX_PLANS", 4)
    monkeypatch.setattr(printk, "_plans", {})
    for i in range(10):
        assert _call_printk(FakeHost(), b"n%d" % i, [0, 0, 0]) == len(b"n%d" % i)
    assert 0 < len(printk._plans) <= 4


# --- ring buffer -------------------------------------------------------------------------

RING = 4096

_OPS = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.one_of(st.integers(0, 300), st.integers(0, RING),
                                            st.just(1 << 40)), st.sampled_from([0, 0, 0, 1])),
    st.tuples(st.just("write"), st.integers(0, 50), st.integers(1, 255)),
    st.tuples(st.just("submit"), st.integers(0, 50), st.sampled_from([0, 1, 2, 3])),
    st.tuples(st.just("discard"), st.integers(0, 50), st.sampled_from([0, 1, 2])),
), max_size=60)


class _ModelRing:
    """The kernel's ring in a few lines: positions, records in reservation order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.producer = 0
        self.consumer = 0
        self.queue: list[list[object]] = []     # [end, state, data]

    def reserve(self, size: int) -> list[object] | None:
        length = (size + 8 + 7) // 8 * 8
        if size > ((1 << 32) - 1) // 4 or length > self.size or \
                self.producer + length - self.consumer > self.size - 1:
            return None
        self.producer += length
        rec: list[object] = [self.producer, "busy", bytearray(size)]
        self.queue.append(rec)
        return rec

    def poll(self) -> list[bytes]:
        out = []
        while self.queue and self.queue[0][1] != "busy":
            end, state, data = self.queue.pop(0)
            if state == "committed":
                out.append(bytes(data))  # type: ignore[arg-type]
            self.consumer = end  # type: ignore[assignment]
        return out


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(_OPS)
def test_ringbuf_agrees_with_a_model(ops: list[tuple[str, int, int]]) -> None:
    host = FakeHost()
    vm = Vm(host=host)
    rb = create_map(MapSpec("rb", "ringbuf", 0, 0, RING), vm)
    assert isinstance(rb, RingBuf)
    handle = vm.map_handle(rb)
    state = vm.state
    model = _ModelRing(RING)
    busy: list[tuple[int, list[object]]] = []     # (address, model record)
    seen: set[int] = set()
    delivered: list[bytes] = []
    for op, a, b in ops:
        if op == "reserve":
            addr = map_helpers.ringbuf_reserve(state, handle, a, b, 0, 0)
            rec = model.reserve(a) if b == 0 else None
            assert (addr != 0) == (rec is not None)
            if rec is not None:
                assert vm.space.read(addr, a) == bytes(a)        # a fresh record is zeroed
                busy.append((addr, rec))
                seen.add(addr)
        elif busy:
            addr, rec = busy[a % len(busy)]
            data = rec[2]
            assert isinstance(data, bytearray)
            if op == "write":
                if data:
                    at = b % len(data)
                    data[at] = b
                    assert vm.space.write(addr + at, bytes([b]))
                continue
            fn = map_helpers.ringbuf_submit if op == "submit" else map_helpers.ringbuf_discard
            assert fn(state, addr, b, 0, 0, 0) == 0
            rec[1] = "committed" if op == "submit" else "discarded"
            busy.remove((addr, rec))
            delivered += model.poll()
            with pytest.raises(HelperFault):               # given back once only
                fn(state, addr, 0, 0, 0, 0)
        assert [d for _, d in effects_of(vm).ringbuf] == delivered
        assert (rb.producer_pos, rb.consumer_pos) == (model.producer, model.consumer)
        busy_addrs = {addr for addr, _ in busy}
        assert set(vm.space.lent) == busy_addrs
        for addr in seen:           # mapped exactly while a busy record holds it
            assert ((addr >> 32) in vm.space.table) == (addr in busy_addrs)


def test_ringbuf_reuse_keeps_a_submitted_record_apart() -> None:
    """A record submitted behind a busy one waits for it; a later record reusing its
    address does not change what the consumer gets."""
    host = FakeHost()
    vm = Vm(host=host)
    rb = create_map(MapSpec("rb", "ringbuf", 0, 0, RING), vm)
    assert isinstance(rb, RingBuf)
    first, second = rb.reserve(8), rb.reserve(8)
    vm.space.write(second, b"B" * 8)
    rb.commit(second, discard=False)
    third = rb.reserve(8)
    assert third == second                     # the freed slot, as a fresh region gets
    vm.space.write(third, b"C" * 8)
    rb.commit(first, discard=True)
    assert rb.poll() == [b"B" * 8]
    rb.commit(third, discard=False)
    assert rb.poll() == [b"C" * 8]


def test_ringbuf_submit_of_a_non_record_is_a_fault() -> None:
    vm = Vm(host=FakeHost())
    rb = create_map(MapSpec("rb", "ringbuf", 0, 0, RING), vm)
    addr = map_helpers.ringbuf_reserve(vm.state, vm.map_handle(rb), 16, 0, 0, 0)
    for bad in (addr + 8, 0, vm.space.stacks[0].base):
        with pytest.raises(HelperFault, match="not a record reserved"):
            map_helpers.ringbuf_submit(vm.state, bad, 0, 0, 0, 0)
    assert map_helpers.ringbuf_discard(vm.state, addr, 0, 0, 0, 0) == 0


USE_AFTER_SUBMIT = """
.map rb ringbuf key=0 value=0 max_entries=4096
    r1 = map[rb] ll
    r2 = 16
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto out
    r6 = r0
    r1 = 7
    *(u64 *)(r6 + 0) = r1
    r1 = r6
    r2 = 0
    call bpf_ringbuf_submit
    r1 = 8
    *(u64 *)(r6 + 8) = r1
out:
    r0 = 0
    exit
"""


def test_use_after_submit_faults_on_every_run() -> None:
    """The recycled record of a later run is still unmapped after its submit."""
    L = load(USE_AFTER_SUBMIT, host=FakeHost())
    for _ in range(3):
        with pytest.raises(VmFault, match="invalid write of 8 bytes"):
            L.run()
        assert L.effects.ringbuf == [("rb", (7).to_bytes(8, "little") + bytes(8))]


def test_remap_takes_the_slot_map_would() -> None:
    space = AddressSpace()
    a = space.map(bytearray(4), True, "a")
    b = space.map(bytearray(4), True, "b")
    space.unmap(a)
    space.unmap(b)
    base = space.remap(a, bytearray(b"wxyz"))
    assert base == b.base and a.slot == b.slot        # the most recently freed slot
    assert space.read(base, 4) == b"wxyz"
    c = space.map(bytearray(1), True, "c")
    assert c.slot not in (a.slot,) and space.read(base, 4) == b"wxyz"
