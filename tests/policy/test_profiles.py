"""Loading profiles: bad ones are refused with the JSON path of the bad field and what
was expected (tests/policy/data/bad_profiles.json); Docker's extensions (archMap,
includes/excludes, legacy name) resolve as moby and runc resolve them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from probes.abi import Abi, syscall_number
from probes.policy.models import ProfileError, load_profile, parse_profile
from probes.policy.resolve import (
    DOCKER_DEFAULT_CAPS,
    Environment,
    effective_caps,
    kernel_version,
    resolve,
)

from .conftest import DATA, env_of, load_json, make_policy

BAD: list[dict[str, Any]] = load_json("bad_profiles.json")


@pytest.mark.parametrize("case", BAD, ids=[c["why"] for c in BAD])
def test_bad_profile_names_path_and_expectation(case: dict[str, Any]) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(case["profile"], "p.json")
    got = info.value.problems
    for path, text in case["errors"]:
        assert any(p == path and text in msg for p, msg in got), (path, text, got)
    assert len(got) == len(case["errors"]), got
    # one printable line per problem, prefixed with the file
    assert all(line.startswith("p.json: ") for line in info.value.lines())


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "broken.json"
    f.write_text('{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [}\n')
    with pytest.raises(ProfileError, match=r"broken.json: not valid JSON: .* line 2"):
        load_profile(f)
    with pytest.raises(ProfileError, match="No such file"):
        load_profile(tmp_path / "nope.json")


def test_docker_like_profile_loads_and_round_trips() -> None:
    p = load_profile(DATA / "docker_like.json")
    assert [e.architecture.value for e in p.arch_map][:2] == ["SCMP_ARCH_X86_64",
                                                              "SCMP_ARCH_AARCH64"]
    assert p.arch_map[2].sub_architectures == []          # "subArchitectures": null
    assert p.syscalls[4].syscall_names == ["sync_file_range"]   # legacy "name"
    again = parse_profile(json.loads(p.to_json()))
    assert again == p


def test_oci_config_json_is_accepted() -> None:
    p = parse_profile({"ociVersion": "1.2.0", "process": {}, "linux": {"seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}}})
    assert p.syscalls[0].names == ["read"]


def test_archmap_picks_the_native_entry() -> None:
    policy = resolve(load_profile(DATA / "docker_like.json"), env_of(None))
    assert policy.abis == (Abi.X86_64, Abi.I386, Abi.X32)
    only_arm = make_policy({"defaultAction": "SCMP_ACT_ALLOW", "archMap": [
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}]})
    assert only_arm.abis == (Abi.X86_64,)       # the native ABI is always there


def test_architectures_decide_the_abis() -> None:
    assert make_policy({"defaultAction": "SCMP_ACT_ALLOW"}).abis == (Abi.X86_64,)
    assert make_policy({"defaultAction": "SCMP_ACT_ALLOW",
                        "architectures": ["SCMP_ARCH_X32"]}).abis == (Abi.X86_64, Abi.X32)


def test_includes_and_excludes_follow_moby() -> None:
    prof = load_profile(DATA / "docker_like.json")
    bare = resolve(prof, Environment(caps=frozenset(), kernel=(6, 1)))
    reasons = dict(bare.skipped)
    assert "includes.caps: CAP_SYS_ADMIN not held" in reasons[8]
    assert "includes.arches" in reasons[7]                # arm only
    assert 6 not in reasons                               # amd64 is included
    admin = resolve(prof, Environment(caps=frozenset({"CAP_SYS_ADMIN"}), kernel=(6, 1)))
    assert "excludes.caps: CAP_SYS_ADMIN held" in dict(admin.skipped)[10]
    old = resolve(prof, Environment(caps=frozenset(), kernel=(4, 4)))
    assert "includes.minKernel 4.8" in dict(old.skipped)[5]
    future = resolve(prof, Environment(caps=frozenset(), kernel=(99, 0)))
    assert "excludes.minKernel 99.0" in dict(future.skipped)[12]


def test_unknown_names_warn_or_fail_with_strict() -> None:
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "no_such_call", "recv", "bogus"], "action": "SCMP_ACT_ALLOW"}]}
    policy = make_policy(prof)
    # recv has no x86 syscall of its own, but libseccomp knows it (i386 socketcall)
    assert policy.warnings == [
        ("syscalls[0].names[1]: unknown syscall 'no_such_call' (not an x86_64, i386 or x32"
        " syscall); ignored"),
        ("syscalls[0].names[3]: unknown syscall 'bogus' (not an x86_64, i386 or x32"
        " syscall); ignored")]
    assert syscall_number(Abi.X86_64, "read") in policy.rules[Abi.X86_64]
    with pytest.raises(ProfileError) as info:
        make_policy(prof, strict=True)
    assert [p for p, _ in info.value.problems] == ["syscalls[0].names[1]",
                                                   "syscalls[0].names[3]"]


def test_names_of_other_abis_are_not_unknown() -> None:
    policy = make_policy({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["chown32", "arch_prctl"], "action": "SCMP_ACT_ALLOW"}]})
    assert policy.warnings == []       # chown32 is i386 only, still a syscall
    assert syscall_number(Abi.X86_64, "arch_prctl") in policy.rules[Abi.X86_64]


def test_trace_and_notify_are_refused_clearly() -> None:
    with pytest.raises(ProfileError) as info:
        make_policy({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                     "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE"},
                                  {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]})
    (p1, m1), (p2, m2) = info.value.problems
    assert p1 == "syscalls[0].action" and "SCMP_ACT_TRACE is not supported" in m1
    assert p2 == "syscalls[1].action" and "SCMP_ACT_NOTIFY is not supported" in m2
    with pytest.raises(ProfileError, match="defaultAction: SCMP_ACT_TRACE"):
        make_policy({"defaultAction": "SCMP_ACT_TRACE"})
    # an excluded TRACE rule never reaches the filter: no error
    make_policy({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_TRACE", "includes": {"arches": ["s390x"]}}]})


def test_errno_defaults_as_runc() -> None:
    policy = make_policy({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]})
    assert policy.default.errno == 1
    assert 0 not in policy.rules[Abi.X86_64]           # ERRNO(EPERM) == the default
    assert policy.rules[Abi.X86_64][1][0].verdict.errno == 5


def test_host_environment() -> None:
    assert kernel_version("6.18.44-fc-v782") == (6, 18)
    assert kernel_version("weird") == (0, 0)
    assert "CAP_CHOWN" in effective_caps() or not effective_caps()
    env = Environment.from_host()
    # Docker's default container capabilities, not trace-run's own (moby oci/caps)
    assert env.caps == DOCKER_DEFAULT_CAPS and len(env.caps) == 14
    assert env.arch == "amd64" and env.kernel > (3, 0)
    assert Environment.from_host(["CAP_CHOWN"]).caps == {"CAP_CHOWN"}
    assert Environment.from_host(["chown", "sys_admin"]).caps == {"CAP_CHOWN", "CAP_SYS_ADMIN"}
    assert Environment.from_host(["none"]).caps == frozenset()
    assert Environment.from_host([]).caps == frozenset()
    with pytest.raises(ValueError, match="unknown capability 'CAP_FOO'"):
        Environment.from_host(["CAP_FOO"])


def test_containers_common_errno_names() -> None:
    """containers/common's getErrno: ``errno`` (a name of its table, or a decimal
    number), when not empty, wins over ``errnoRet``; an unknown name is an error."""
    from probes.policy.models import Action
    from probes.policy.resolve import Verdict, decide
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "defaultErrno": "ENOSYS",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "errno": "EACCES"},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errno": "5"},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errno": ""}]}
    policy = make_policy(prof)
    mkdir, rmdir = syscall_number(Abi.X86_64, "mkdir"), syscall_number(Abi.X86_64, "rmdir")
    assert mkdir is not None and rmdir is not None
    assert policy.default == Verdict(Action.ERRNO, 38)
    assert decide(policy, Abi.X86_64, mkdir, [0] * 6) == Verdict(Action.ERRNO, 13)
    assert decide(policy, Abi.X86_64, rmdir, [0] * 6) == Verdict(Action.ERRNO, 5)
    for bad, path in (({"defaultErrno": "EFOO"}, "defaultErrno"),
                      ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                      "errno": "-1"}]}, "syscalls[0].errno"),
                      ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                      "errno": "EPERM"}]}, "syscalls[0]"),
                      ({"defaultErrno": 1}, "defaultErrno")):
        with pytest.raises(ProfileError) as info:
            parse_profile({"defaultAction": "SCMP_ACT_ERRNO", **bad}, "p.json")
        assert [p for p, _ in info.value.problems] == [path], info.value.problems
