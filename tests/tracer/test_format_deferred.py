"""Memory read at the stops, text rendered after the resume: the same text as rendering
at the stops, for every call of every table; never a read of the tracee after the fetch;
and nothing rendered at the stops when the lines go to a file of trace-run's own."""

from __future__ import annotations

import importlib
import io
import pkgutil
import random
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.abi import Abi, syscall_number
from tests.hypothesis_profiles import examples
from tests.test_format import FakeMemory
from tests.tracer.test_format_plans import _CALLS, _argument, _blob, _memory, _ret
from tracer import format as F
from tracer.handler import ALLOW, SyscallCall, Tracee
from tracer.output.sink import Fanout
from tracer.output.strace import PidPrefix, StraceWriter
from tracer.record import OutputRecorder
from tracer.syscalls import decode
from tracer.syscalls.decode import Arg, Ctx, fetch_of, quote_string
from tracer.syscalls.decode.common import int_, ulong
from tracer.syscalls.decode.strings import in_buf
from tracer.syscalls.signatures import _I386, SIGNATURES

_BLOBS = 4


def _scramble(mem: FakeMemory, seed: int) -> None:
    """The tracee ran on: every mapped byte changes."""
    noise = random.Random(seed).randbytes(4096)
    for page in mem.pages.values():
        page[:] = noise[:len(page)]


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=st.sampled_from(_CALLS),
       args=st.one_of(st.tuples(*[_argument] * 6), st.lists(_argument, max_size=7)),
       at_entry=st.lists(_blob, min_size=_BLOBS, max_size=_BLOBS),
       at_exit=st.lists(_blob, min_size=_BLOBS, max_size=_BLOBS),
       ret=_ret, seed=st.integers(0, 2**32))
def test_fetched_at_the_stops_rendered_later_is_the_same_text(
        call: tuple[Abi, int], args: tuple[int, ...], at_entry: list[bytes],
        at_exit: list[bytes], ret: int | None, seed: int) -> None:
    abi, nr = call
    entry_mem, exit_mem = _memory(at_entry), _memory(at_exit)
    eager = F.format_entry(abi, nr, args, entry_mem)
    eager_text = eager.finish(ret, exit_mem)

    fetched = F.fetch_entry(abi, nr, args, entry_mem)    # entry stop
    assert fetched.text is None or fetched.snap is F._EAGER
    _scramble(entry_mem, seed)                           # the call runs
    snap = fetched.fetch_exit(ret, exit_mem)            # exit stop
    _scramble(exit_mem, seed + 1)                        # the tracee runs on
    # after the resume: only the snapshots are read (a miss raises UnfetchedRead)
    text = fetched.render()
    assert fetched.snap is not F._EAGER, "a renderer of the tables has no fetch"
    assert text == eager
    assert (text.entry, text.complete_at_entry) == (eager.entry, eager.complete_at_entry)
    assert text.finish(ret, F.replay(snap)) == eager_text
    assert text.result(ret) == eager.result(ret)

    now = F.fetch_entry(abi, nr, args, exit_mem, now=True)   # for a shared stream
    assert now.text is not None and now.render() is now.text
    assert now.text.entry == F.format_entry(abi, nr, args, exit_mem).entry


def _all_renderers() -> Iterator[object]:
    for table in (SIGNATURES, _I386):
        for sig in table.values():
            if callable(sig):
                continue
            for item in sig:
                spec = item if isinstance(item, Arg) else Arg(item)
                yield spec.render
                if spec.exit_suffix is not None:
                    yield spec.exit_suffix


def test_every_renderer_of_the_tables_has_a_fetch_or_reads_no_memory() -> None:
    unknown = [r for r in _all_renderers() if fetch_of(r) is None]  # type: ignore[arg-type]
    assert unknown == []
    for abi, nr in _CALLS:
        plan = F._plan(abi, nr)
        assert plan is F._NO_PLAN or plan.deferrable  # type: ignore[attr-defined]


def test_a_render_that_reads_what_was_not_fetched_is_an_error() -> None:
    with pytest.raises(F.UnfetchedRead):
        F.replay(None)(0x1000, 4)
    with pytest.raises(F.UnfetchedRead):
        F.replay({(0x1000, 4): b"abcd"})(0x1000, 8)
    assert F.replay({(0x1000, 4): None})(0x1000, 4) is None   # a failed read is kept too


def test_a_fetch_that_misses_a_read_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    mem = FakeMemory()
    buf = mem.put(b"hello")
    nr = syscall_number(Abi.X86_64, "write")
    assert nr is not None
    plan = F._Plan(Abi.X86_64, nr, (Arg(int_, 0), Arg(in_buf(2), 1), Arg(ulong, 2)))
    plan.fetch_in = ()   # a broken fetch: reads nothing
    monkeypatch.setitem(F._PLANS_X86_64, nr, plan)
    fetched = F.fetch_entry(Abi.X86_64, nr, (1, buf, 5, 0, 0, 0), mem)
    with pytest.raises(F.UnfetchedRead):
        fetched.render()


def test_a_renderer_without_a_fetch_is_rendered_at_the_stop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Correct even so: the entry rendered at the entry stop, the exit rendered once at
    the exit stop to fetch what it reads."""
    mem = FakeMemory()
    buf = mem.put(b"hello\0")

    def unknown_in(ctx: Ctx, v: int) -> str:
        return quote_string(ctx.mem(v, 5) or b"")

    def unknown_out(ctx: Ctx, v: int) -> str:
        return "?" if ctx.failed else quote_string(ctx.mem(v, 3) or b"")

    nr = 5000
    plan = F._Plan(Abi.X86_64, nr, (Arg(unknown_in, 0), Arg(unknown_out, 1, at_exit=True)))
    assert not plan.deferrable
    monkeypatch.setitem(F._PLANS_X86_64, nr, plan)
    fetched = F.fetch_entry(Abi.X86_64, nr, (buf, buf, 0, 0, 0, 0), mem)
    assert fetched.text is not None   # rendered at the stop
    mem.put(b"world", buf)
    snap = fetched.fetch_exit(0, mem)
    mem.put(b"later", buf)
    assert fetched.render().finish(0, F.replay(snap)).endswith('("hello", "wor")')


# --- the recorder ----------------------------------------------------------------------


class _Thread:
    def __init__(self, mem: FakeMemory, tid: int = 7) -> None:
        self.mem = mem
        self.tid = self.pid = tid

    def read_memory(self, addr: int, size: int) -> bytes | None:
        return self.mem(addr, size)


def _call(name: str, *args: int, tid: int = 7) -> SyscallCall:
    nr = syscall_number(Abi.X86_64, name)
    assert nr is not None
    return SyscallCall(tid, tid, Abi.X86_64, nr, nr, name,
                       (tuple(args) + (0,) * 6)[:6], bytes(168), 1.0)  # type: ignore[arg-type]


def _private_text(tmp_path: Path, steps: list[tuple[str, SyscallCall, int | None, bytes]],
                  mem: FakeMemory, buf: int) -> str:
    """Play ``steps`` (entry/exit, the call, ret, the buffer's bytes after the stop) to
    a file of trace-run's own, flushing after each stop as the loop does."""
    path = tmp_path / "trace.txt"
    th = cast(Tracee, _Thread(mem))
    with path.open("w") as f:
        w = Fanout([StraceWriter(f, pid_prefix=PidPrefix.NEVER)])
        assert w.entries_may_wait
        rec = OutputRecorder(w)
        for kind, c, ret, after in steps:
            if kind == "entry":
                rec.record_entry(c, ALLOW, th)
            else:
                rec.record_exit(c, ret, ALLOW, th, 2.0)
            mem.put(after, buf)   # the tracee runs before the flush
            rec.flush()
        w.close()
    return path.read_text()


def test_recorder_shows_memory_as_it_was_at_the_stops(tmp_path: Path) -> None:
    mem = FakeMemory()
    buf = mem.put(b"at entry\0")
    write, read = _call("write", 1, buf, 8), _call("read", 0, buf, 8)
    text = _private_text(tmp_path, [
        ("entry", write, None, b"changed!"),
        ("exit", write, 8, b"changed?"),
        ("entry", read, None, b"by read!"),
        ("exit", read, 8, b"later..."),
    ], mem, buf)
    assert text.splitlines() == [
        'write(1, "at entry", 8)                 = 8',
        'read(0, "by read!", 8)                  = 8',
    ]


def test_nothing_is_rendered_at_the_stops_with_a_file_of_our_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at_stop = [False]
    renders = [0]
    real_plan, real_quote = F._render_plan, quote_string

    def render_plan(*a: object, **k: object) -> F.CallText:
        assert not at_stop[0], "rendered at a stop"
        renders[0] += 1
        return real_plan(*a, **k)  # type: ignore[arg-type]

    def quote(*a: object, **k: object) -> str:
        assert not at_stop[0], "quoted at a stop"
        return real_quote(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "_render_plan", render_plan)
    for info in pkgutil.iter_modules(decode.__path__, decode.__name__ + "."):
        module = importlib.import_module(info.name)   # every family that quotes
        if hasattr(module, "quote_string"):
            monkeypatch.setattr(module, "quote_string", quote)
    mem = FakeMemory()
    buf = mem.put(b"hello world\n\0")
    th = cast(Tracee, _Thread(mem))
    out = io.StringIO()
    with (tmp_path / "t").open("w") as f:
        w = Fanout([StraceWriter(f, pid_prefix=PidPrefix.NEVER)])
        rec = OutputRecorder(w)
        for c, ret in ((_call("openat", 2**64 - 100, buf, 0), 3), (_call("write", 1, buf, 12), 12),
                       (_call("read", 3, buf, 12), 12), (_call("close", 3), 0)):
            at_stop[0] = True
            rec.record_entry(c, ALLOW, th)
            at_stop[0] = False
            rec.flush()
            at_stop[0] = True
            rec.record_exit(c, ret, ALLOW, th, 2.0)
            at_stop[0] = False
            rec.flush()
        w.close()
    assert renders[0] == 4
    out.write((tmp_path / "t").read_text())
    assert out.getvalue().splitlines()[1] == 'write(1, "hello world\\n", 12)           = 12'


# --- every call, systematically: pointers everywhere, structured memory, every kind of ret


def _pointer(blob: int, off: int = 0) -> int:
    return 0x10000000 + blob * (3 * 4096 + 4096) + off


def _structured(seed: int) -> FakeMemory:
    """Blob 0: a NULL-terminated pointer array (argv, envp) into the others; blob 1:
    strings; blob 2: random bytes; blob 3: small ints (lengths, sockaddr families)."""
    import struct
    rnd = random.Random(seed)
    ptrs = struct.pack("<4Q", _pointer(1), _pointer(1, 6), _pointer(2, 3), 0)
    ptrs32 = struct.pack("<4I", _pointer(1), _pointer(1, 6), _pointer(2, 3), 0)
    words = struct.pack("<8i", 16, 2, 1, 110, 0x1000, 28, 10, 4)
    return _memory([ptrs + ptrs32, b"hello\0world\0" + rnd.randbytes(40),
                    rnd.randbytes(300), words + rnd.randbytes(200)])


_PATTERNS = [
    (_pointer(0), _pointer(1), _pointer(2), _pointer(3), _pointer(0, 32), _pointer(1, 6)),
    (3, _pointer(1), 12, _pointer(3), _pointer(0), 128),
    (2**64 - 100, _pointer(0), _pointer(3), 0x40, _pointer(3, 4), 28),
    (_pointer(3), 8, _pointer(2), _pointer(3, 8), 16, _pointer(0, 32)),
    (0x1003, _pointer(2), 0x100, 0x10, _pointer(3), 0),
]
_RETS = [None, 0, 5, 16, 200, -4, -14, 2**64 - 2, _pointer(2)]


def _copy(mem: FakeMemory) -> FakeMemory:
    out = FakeMemory()
    out.pages = {addr: bytearray(page) for addr, page in mem.pages.items()}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("abi", list(Abi))
def test_every_call_with_pointers_everywhere(abi: Abi) -> None:
    calls = [nr for a, nr in _CALLS if a is abi]
    memories = [_structured(seed) for seed in range(4)]
    for n, nr in enumerate(calls):
        for i, args in enumerate(_PATTERNS):
            if abi is Abi.I386:
                args = tuple(a & 0xFFFFFFFF for a in args)  # type: ignore[assignment]
            for k, ret in enumerate(_RETS):
                entry_mem = _copy(memories[(n + i + k) % 4])
                exit_mem = _copy(memories[(n + i + k + 1) % 4])
                eager = F.format_entry(abi, nr, args, entry_mem)
                expected = eager.finish(ret, exit_mem)
                fetched = F.fetch_entry(abi, nr, args, entry_mem)
                _scramble(entry_mem, n)
                snap = fetched.fetch_exit(ret, exit_mem)
                _scramble(exit_mem, n)
                text = fetched.render()
                assert text == eager, (abi, nr, args, ret)
                assert text.finish(ret, F.replay(snap)) == expected, (abi, nr, args, ret)
