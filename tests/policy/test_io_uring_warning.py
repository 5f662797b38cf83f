"""tracer/policy/io_uring.py: the warning for profiles whose rules io_uring bypasses."""

from __future__ import annotations

from typing import Any

import pytest

from probes.policy.models import parse_profile
from probes.policy.resolve import Environment, Policy, resolve
from tracer.policy.io_uring import io_uring_warning


def policy(data: dict[str, Any]) -> Policy:
    return resolve(parse_profile(data), Environment.from_host([]))


DENY_MKDIR = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}


def test_allowed_io_uring_with_file_rules_warns() -> None:
    w = io_uring_warning(policy({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [DENY_MKDIR]}))
    assert w is not None and "mkdirat" in w and "io_uring" in w


@pytest.mark.parametrize("profile", [
    {"defaultAction": "SCMP_ACT_ALLOW"},                      # nothing to bypass
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [         # io_uring refused
        DENY_MKDIR, {"names": ["io_uring_setup"], "action": "SCMP_ACT_ERRNO"}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [         # rules on other calls only
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]},
    {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [         # io_uring not allowed
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]},
])
def test_no_warning(profile: dict[str, Any]) -> None:
    assert io_uring_warning(policy(profile)) is None


def test_an_allowlist_with_io_uring_warns_about_what_it_leaves_out() -> None:
    w = io_uring_warning(policy({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["io_uring_setup", "io_uring_enter", "read", "write"],
         "action": "SCMP_ACT_ALLOW"}]}))
    assert w is not None and "openat" in w and "more" in w
