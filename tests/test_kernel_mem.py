"""Emulated kernel memory (bpf_vm.kernel_mem): placed objects read by
bpf_probe_read_kernel; anything else fails as the kernel's probe read of an unmapped
address does (-EFAULT, destination zeroed)."""

from __future__ import annotations

import errno

import pytest

from bpf_vm.host import FakeHost
from bpf_vm.kernel_mem import PLACE_BASE, PLACE_STRIDE, KernelMemory
from tests.vm_kit import load


def test_place_read_replace() -> None:
    k = KernelMemory()
    a = k.place("regs", b"\x01" * 168)
    b = k.place("seccomp_data", b"\x02" * 64)
    assert a == PLACE_BASE and b == PLACE_BASE + PLACE_STRIDE
    assert k.read(a + 160, 8) == b"\x01" * 8
    assert k.read(a + 161, 8) is None          # runs past the object
    assert k.read(a - 1, 1) is None
    assert k.place("regs", b"\x03" * 168) == a  # same key, same address, new bytes
    assert k.read(a, 1) == b"\x03"
    assert k.address_of("seccomp_data") == b
    with pytest.raises(ValueError):
        k.place("big", bytes(PLACE_STRIDE + 1))


@pytest.mark.parametrize(("offset", "size", "want"), [(8, 8, 0x1122334455667788),
                                                      (12, 8, -errno.EFAULT)])
def test_probe_read_kernel_reaches_placed_objects(offset: int, size: int, want: int) -> None:
    L = load(f"""
        *(u64 *)(r10 - 8) = 0x55
        r1 = r10
        r1 += -8
        r2 = {size}
        r3 = {PLACE_BASE + offset} ll
        call bpf_probe_read_kernel
        if r0 != 0 goto out
        r0 = *(u64 *)(r10 - 8)
        exit
    out:
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        if r0 != 0 goto bad
        r0 = r6
        exit
    bad:
        r0 = 1
        exit
    """, host=FakeHost())
    L.vm.kernel_mem.place("obj", bytes(8) + (0x1122334455667788).to_bytes(8, "little"))
    r0 = L.vm.run(L.prog, bytes(168)).r0
    assert (r0 - (1 << 64) if r0 >> 63 else r0) == want
