"""The planned way of formatting a call (one plan per number, made once) against the
general way (the signature looked up and walked at every call): same text, always."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.abi import X32_SYSCALL_BIT, Abi, syscalls
from tests.hypothesis_profiles import examples
from tests.test_format import FakeMemory
from tracer import format as F
from tracer.format_results import format_return
from tracer.syscalls.decode import quote_string

# Every number of every table, numbers nobody knows, and x32 numbers without their bit.
_CALLS = sorted({(abi, nr) for abi in Abi for nr in syscalls(abi)}
                | {(Abi.X86_64, 1000), (Abi.I386, 1000), (Abi.X32, X32_SYSCALL_BIT | 1000)}
                | {(Abi.X32, nr & ~X32_SYSCALL_BIT) for nr in syscalls(Abi.X32)},
                key=lambda c: (c[0].value, c[1]))

_BASE = 0x10000000   # FakeMemory's first blob
_BLOBS = 4
_BLOB = 3 * 4096     # each blob: 3 pages; an unmapped page follows


def _memory(contents: list[bytes]) -> FakeMemory:
    mem = FakeMemory()
    for i, data in enumerate(contents):
        mem.put(data.ljust(_BLOB, b"\0")[:_BLOB], _BASE + i * (_BLOB + 4096))
    return mem


_pointer = st.builds(lambda blob, off: _BASE + blob * (_BLOB + 4096) + off,
                     st.integers(0, _BLOBS - 1), st.integers(0, _BLOB + 64))
_argument = st.one_of(
    st.integers(0, 8), st.integers(0, 0xFFFFFFFF), st.integers(0, 2**64 - 1),
    st.sampled_from([0xFFFFFFFFFFFFFF9C, 0xFFFFFF9C, 2**64 - 1, 0x80000000, 0o100, 0o2000000,
                     0x22, 0x1000, 0x410011, 64, 128]),
    _pointer,
    st.integers(-2**64, 2**65),   # not registers: both ways mask them
)
_text = st.binary(max_size=80) | st.text(string.printable, max_size=60).map(str.encode)
_blob = st.lists(_text, min_size=1, max_size=6).map(lambda parts: b"\0".join(parts))
_ret = st.one_of(st.none(), st.integers(-4095, 64), st.integers(0, 2**64 - 1),
                 st.sampled_from([-2, -4, -14, -512, -516, 2**64 - 2, 0xFFFFFFFE]), _pointer)


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=st.sampled_from(_CALLS),
       args=st.one_of(st.tuples(*[_argument] * 6), st.lists(_argument, max_size=7)),
       contents=st.lists(_blob, min_size=_BLOBS, max_size=_BLOBS), ret=_ret)
def test_planned_and_general_formatting_agree(call: tuple[Abi, int], args: tuple[int, ...],
                                              contents: list[bytes], ret: int | None) -> None:
    abi, nr = call
    mem = _memory(contents)
    general = F._format_entry_general(abi, nr, args, mem)
    planned = F.format_entry(abi, nr, args, mem)
    assert (planned.abi, planned.nr, planned.name, planned.args) == (
        general.abi, general.nr, general.name, general.args)
    assert planned.entry == general.entry
    assert planned.complete_at_entry == general.complete_at_entry
    assert planned == general
    assert planned.finish(ret, mem) == general.finish(ret, mem)
    assert planned.result(ret) == general.result(ret)
    assert F.call_identity(abi, nr, args) == (general.nr, general.name, general.args)


def test_every_call_of_every_table_has_a_plan_or_goes_the_general_way() -> None:
    mem = FakeMemory()
    for abi, nr in _CALLS:
        F.format_entry(abi, nr, (0,) * 6, mem)
        plan = F._plan(abi, nr)
        assert plan is F._NO_PLAN or isinstance(plan, F._Plan)
    # the calls whose shape depends on an argument are never planned
    for name in ("fcntl", "futex", "clone", "prctl", "arch_prctl"):
        nr = next(n for n, v in syscalls(Abi.X86_64).items() if v == name)
        assert F._plan(Abi.X86_64, nr) is F._NO_PLAN


@given(st.binary(max_size=100))
def test_quoting_is_the_same_cached_or_not(data: bytes) -> None:
    from tracer.syscalls.decode.common import _quote
    assert quote_string(data) == _quote(data)
    assert quote_string(data) == _quote(data)   # the second time from the cache
    assert quote_string(bytearray(data)) == _quote(data)  # type: ignore[arg-type]


@given(ret=_ret, name=st.sampled_from(["read", "mmap", "brk", "umask", "fcntl", "fcntl64",
                                       "mmap2", "getpid"]),
       abi=st.sampled_from(list(Abi)), cmd=st.sampled_from([1, 3, 4, 2**32 + 3]))
def test_return_values_match_the_plain_rules(ret: int | None, name: str, abi: Abi,
                                             cmd: int) -> None:
    """format_return's quick ways (cached errors, one check for plain numbers) against
    the rules written out."""
    from tracer.syscalls import xlat as X
    from tracer.syscalls.decode import flags_text, hx, octal, open_flags_text, signed
    args = (0, cmd, 0, 0, 0, 0)
    text = format_return(ret, name=name, abi=abi, args=args)
    if ret is None:
        assert text == "?"
        return
    bits = 32 if abi is Abi.I386 else 64
    value = signed(ret, bits)
    if -4095 <= value <= -1:
        err = -value
        prefix = "?" if err in X.RESTART_ERRNOS else "-1"
        expected = f"{prefix} {X.errno_name(err)} ({X.errno_text(err)})"
    elif name in ("mmap", "mmap2", "brk"):
        expected = hx(value & ((1 << bits) - 1))
    elif name == "umask":
        expected = octal(value)
    elif name in ("fcntl", "fcntl64") and cmd & 0xFFFFFFFF == 1 and value:
        expected = f"{hx(value)} (flags {flags_text(value, X.FD_FLAGS)})"
    elif name in ("fcntl", "fcntl64") and cmd & 0xFFFFFFFF == 3:
        expected = f"{hx(value)} (flags {open_flags_text(value)})"
    else:
        expected = str(value)
    assert text == expected
