"""The compiled BPF decides as seccomp would: data-driven tables (tests/policy/data/
decisions.json) run through the VM on synthetic pt_regs, checked against the expected
action and against the direct Python evaluation (probes.policy.resolve.decide); and a
hypothesis property over random rule sets and arguments."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number
from probes.policy.compiler import max_entries, plan
from probes.policy.models import Action, Op, ProfileError, parse_profile
from probes.policy.resolve import BAD_ARCH, Environment, Kind, Verdict, decide, resolve
from probes.policy.runtime import PolicyRunner, pt_regs
from probes.prefilter import SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP
from tests.hypothesis_profiles import examples

from .conftest import compiled, env_of, load_json, make_policy, number, run_bpf, show, verdict

TABLES: list[dict[str, Any]] = load_json("decisions.json")


def _profile(table: dict[str, Any]) -> dict[str, Any]:
    return table["profile"] if "profile" in table else load_json(table["file"])


@pytest.mark.parametrize("table", TABLES, ids=[t["title"] for t in TABLES])
def test_decision_table(table: dict[str, Any]) -> None:
    policy = resolve(parse_profile(_profile(table)), env_of(table.get("env")))
    cp = compiled(policy)
    failures = []
    for abi_name, syscall, args, expected in table["cases"]:
        abi = Abi(abi_name)
        nr = number(abi, syscall)
        want = verdict(expected)
        got_bpf = run_bpf(cp, abi, nr, args)
        got_ref = decide(policy, abi, nr, args)
        if got_bpf.key != want.key or got_ref.key != want.key:
            failures.append(f"{abi_name} {syscall}{tuple(args)}: expected {expected},"
                            f" BPF {show(got_bpf)}, reference {show(got_ref)}")
    assert not failures, "\n".join(failures)


def test_fall_through_reaches_default_without_a_program() -> None:
    """getgid has no program: the dispatcher's tail call fails and its own code runs."""
    policy = make_policy({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13,
                          "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]})
    cp = compiled(policy)
    runner = PolicyRunner(cp)
    getgid = number(Abi.X86_64, "getgid")
    getpid = number(Abi.X86_64, "getpid")
    assert getgid not in cp.obj.prog_arrays["progs_x86_64"]
    out = runner.run(Abi.X86_64, pt_regs(Abi.X86_64, getgid))
    assert out.verdict == Verdict(Action.ERRNO, 13)
    assert out.tail_calls == 0
    assert out.override == -13
    out = runner.run(Abi.X86_64, pt_regs(Abi.X86_64, getpid))
    assert out.verdict == Verdict(Action.ALLOW)
    assert out.tail_calls == 1
    # an index past max_entries falls through too
    out = runner.run(Abi.X86_64, pt_regs(Abi.X86_64, max_entries(Abi.X86_64) + 5))
    assert (out.verdict, out.tail_calls) == (Verdict(Action.ERRNO, 13), 0)


def test_prog_array_slots_are_syscall_numbers() -> None:
    policy = make_policy({"defaultAction": "SCMP_ACT_ALLOW",
                          "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                          "syscalls": [{"names": ["mkdir", "read"], "action": "SCMP_ACT_ERRNO"}]})
    cp = compiled(policy)
    arrays = cp.obj.prog_arrays
    # mkdir's program is read's (the same instructions): one program in both slots
    assert arrays["progs_x86_64"] == {83: "x86_64_read", 0: "x86_64_read"}
    assert arrays["progs_i386"] == {39: "i386_read", 3: "i386_read"}
    # x32 numbers carry __X32_SYSCALL_BIT; the slot is the number without it
    assert arrays["progs_x32"] == {83: "x32_read", 0: "x32_read"}
    assert cp.aliases == {"x86_64_mkdir": "x86_64_read", "i386_mkdir": "i386_read",
                          "x32_mkdir": "x32_read"}
    assert "(the program x86_64_read)" in cp.listing()
    assert syscall_number(Abi.X32, "mkdir") == X32_SYSCALL_BIT + 83
    for m in ("progs_x86_64", "progs_i386", "progs_x32"):
        assert cp.obj.maps[m].max_entries >= 470
    assert [s.program for s in cp.slots if s.is_dispatcher] == [
        "dispatch", "dispatch_i386", "dispatch_x32"]


def test_not_allowed_abi_gets_a_killing_dispatcher() -> None:
    cp = compiled(make_policy({"defaultAction": "SCMP_ACT_ALLOW"}))
    assert set(cp.obj.prog_arrays) == set()
    out = PolicyRunner(cp).run(Abi.I386, pt_regs(Abi.I386, 20))
    assert out.verdict.key == BAD_ARCH.key
    assert out.requests == (("seccomp_return", SECCOMP_RET_KILL_THREAD),) and not out.signals
    assert out.tail_calls == 0


def test_log_writes_a_printk_line_and_allows() -> None:
    cp = compiled(make_policy({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["openat"], "action": "SCMP_ACT_LOG",
         "args": [{"index": 2, "value": 64, "valueTwo": 64, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["openat"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 2, "value": 64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}))
    runner = PolicyRunner(cp)
    openat = number(Abi.X86_64, "openat")
    out = runner.run(Abi.X86_64, pt_regs(Abi.X86_64, openat, [0, 0, 0o101]))
    assert out.verdict.action is Action.LOG     # O_CREAT
    assert len(out.printk) == 1 and out.printk[0].endswith("SCMP_ACT_LOG x86_64 openat")
    out = runner.run(Abi.X86_64, pt_regs(Abi.X86_64, openat, [0, 0, 0]))
    assert out.verdict.action is Action.ALLOW and out.printk == ()


def test_log_as_default_action_names_the_number() -> None:
    cp = compiled(make_policy({"defaultAction": "SCMP_ACT_LOG", "syscalls": [
        {"names": ["openat"], "action": "SCMP_ACT_LOG"},     # same as default: dropped
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}))
    assert cp.obj.prog_arrays["progs_x86_64"] == {83: "x86_64_mkdir"}
    out = PolicyRunner(cp).run(Abi.X86_64, pt_regs(Abi.X86_64, 39))
    assert out.verdict.action is Action.LOG
    assert out.printk[0].endswith("SCMP_ACT_LOG x86_64 nr=39")


def test_trap_asks_for_seccomp_s_trap() -> None:
    cp = compiled(make_policy({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_TRAP"}]}))
    out = PolicyRunner(cp).run(Abi.X86_64, pt_regs(Abi.X86_64, 63))
    assert out.verdict.action is Action.TRAP
    assert out.requests == (("seccomp_return", SECCOMP_RET_TRAP),)
    assert not out.signals and out.override is None


def test_kill_process_and_kill_thread_helpers() -> None:
    cp = compiled(make_policy({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["gettid"], "action": "SCMP_ACT_KILL"}]}))
    r = PolicyRunner(cp)
    # bpf_seccomp_return, not bpf_send_signal: the kernel's seccomp gives these (SIGSYS)
    assert r.run(Abi.X86_64, pt_regs(Abi.X86_64, 39)).requests == (
        ("seccomp_return", SECCOMP_RET_KILL_PROCESS),)
    assert r.run(Abi.X86_64, pt_regs(Abi.X86_64, 186)).requests == (
        ("seccomp_return", SECCOMP_RET_KILL_THREAD),)
    assert "call bpf_seccomp_return" in cp.listing()


def test_i386_arguments_come_from_bx_cx_dx() -> None:
    """int 0x80 passes arguments in ebx, ecx, edx...: a program reading di would see
    garbage.  Put a decoy in di and the real argument in bx."""
    cp = compiled(make_policy({"defaultAction": "SCMP_ACT_ALLOW",
                               "architectures": ["SCMP_ARCH_X86"], "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]}))
    r = PolicyRunner(cp)
    regs = pt_regs(Abi.I386, 39, [7], di=5)
    assert r.run(Abi.I386, regs).verdict.action is Action.ERRNO
    regs = pt_regs(Abi.I386, 39, [5], di=7)
    assert r.run(Abi.I386, regs).verdict.action is Action.ALLOW


def test_listing_names_every_slot() -> None:
    policy = make_policy({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
    text = compiled(policy).listing()
    assert "dispatch: entry program of the x86_64 ABI" in text
    assert "x86_64_socket: progs_x86_64[41] = x86_64 socket (nr 41)" in text
    assert "call bpf_tail_call" in text and "call bpf_override_return" in text
    assert "dispatch_i386: entry program of the i386 ABI (not allowed: kills)" in text
    assert "if w2 != 0x1 goto" in text   # the low word; the high one is tested first


def test_rules_after_an_unconditional_winner_are_not_compiled() -> None:
    policy = make_policy({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_LOG",
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]})
    (slot,) = [s for s in plan(policy) if s.name == "kill" and s.abi is Abi.X86_64]
    assert [str(r.verdict) for r in slot.rules] == ["SCMP_ACT_ERRNO(EPERM)"]


# --- property: compiled BPF == direct evaluation ------------------------------------------

_EDGES = [0, 1, 2, 7, 0x40, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000,
          0x100000001, 0xFFFFFFFF00000000, 1 << 63, (1 << 63) - 1, (1 << 64) - 1]
_values = st.one_of(st.sampled_from(_EDGES), st.integers(0, 16),
                    st.integers(0, (1 << 64) - 1))
_SYSCALLS = ["read", "write", "close", "mkdir", "socket"]
_ACTIONS = [Action.ALLOW, Action.ERRNO, Action.KILL, Action.KILL_PROCESS,
            Action.KILL_THREAD, Action.TRAP, Action.LOG]
_conds = st.builds(lambda i, op, v, w: {"index": i, "op": op.value, "value": v, "valueTwo": w},
                   st.integers(0, 5), st.sampled_from(list(Op)), _values, _values)
_rules = st.builds(
    lambda names, action, errno, args: {
        "names": names, "action": action.value, "args": args,
        **({"errnoRet": errno} if action is Action.ERRNO and errno is not None else {})},
    st.lists(st.sampled_from(_SYSCALLS), min_size=1, max_size=2, unique=True),
    st.sampled_from(_ACTIONS), st.one_of(st.none(), st.integers(0, 5000)),
    st.lists(_conds, max_size=3))
_profiles = st.builds(
    lambda default, errno, arches, rules: {
        "defaultAction": default.value, "architectures": arches, "syscalls": rules,
        **({"defaultErrnoRet": errno} if default is Action.ERRNO and errno is not None else {})},
    st.sampled_from([Action.ALLOW, Action.ERRNO, Action.LOG, Action.KILL_PROCESS]),
    st.one_of(st.none(), st.integers(0, 200)),
    st.sampled_from([[], ["SCMP_ARCH_X86"], ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                               "SCMP_ARCH_X32"]]),
    st.lists(_rules, max_size=6))


@pytest.mark.slow
@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=_profiles, data=st.data())
def test_compiled_policy_equals_direct_evaluation(profile: dict[str, Any], data: Any) -> None:
    try:
        policy = resolve(parse_profile(profile), Environment())
    except ProfileError:   # rules libseccomp refuses (EEXIST) or would loop on
        assume(False)
        return
    cp = compiled(policy)
    runner = PolicyRunner(cp)
    # per argument index, values at and next to the rules' own make matches likely
    near: dict[int, set[int]] = {i: set() for i in range(6)}
    for rules in policy.rules.values():
        for rs in rules.values():
            for r in rs:
                for c in r.conds:
                    for v in (c.value, c.value_two, c.value & c.value_two):
                        near[c.index] |= {v, (v + 1) % (1 << 64), (v - 1) % (1 << 64)}
    arg_st = [st.one_of(st.sampled_from(sorted(near[i])), _values) if near[i] else _values
              for i in range(6)]
    for _ in range(10):
        abi = data.draw(st.sampled_from(list(Abi)))
        name = data.draw(st.sampled_from([*_SYSCALLS, "getpid"]))
        nr = number(abi, name)
        args = [data.draw(a) for a in arg_st]
        want = decide(policy, abi, nr, args)
        got = runner.run(abi, pt_regs(abi, nr, args)).verdict
        assert got.key == want.key, (abi, name, args, show(got), show(want))


def test_x32_range_numbers_on_the_x86_64_abi() -> None:
    """libseccomp's x86_64 section sends numbers from 0x40000000 up (but -1) to the x32
    section or the bad-arch action: so do decide() and the dispatcher."""
    for arches, want in (([], BAD_ARCH), (["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                                          Verdict(Action.ERRNO, 38))):
        policy = make_policy({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                              "architectures": arches,
                              "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
        runner = PolicyRunner(compiled(policy))
        for nr in (0x40000000, 0x80000000, 0xFFFFFFFE):
            assert decide(policy, Abi.X86_64, nr, [0] * 6).key == want.key
            assert runner.run(Abi.X86_64, pt_regs(Abi.X86_64, nr)).verdict.key == want.key
        assert decide(policy, Abi.X86_64, 0xFFFFFFFF, [0] * 6).key == (Kind.ERRNO, 38)
        assert runner.run(Abi.X86_64, pt_regs(Abi.X86_64, 0xFFFFFFFF)).verdict.key == \
            (Kind.ERRNO, 38)
