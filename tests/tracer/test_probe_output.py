"""trace-run's probe output: ``--set`` before load, records decoded through BTF/DWARF in
``--printk`` (readable lines) and ``--records`` (JSON Lines), ``--record-type``, and one
line for each bad setting.

The program (bpfsrc_output/openat_events.bpf.c, libbpf's headers) sends a ring-buffer
record for each openat of a task whose comm equals the read-only global ``targ_comm``:
without ``--set`` nothing matches, so the records prove the setting reached the program;
their fields must be what ``cat`` really opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm.cli import app
from tests.tracer.conftest import run_cli

SRC = Path(__file__).parent / "bpfsrc_output" / "openat_events.bpf.c"
pytestmark = [pytest.mark.ptrace,
              pytest.mark.needs_uapi_headers("/usr/include/bpf/bpf_helpers.h",
                                             "/usr/include/linux/bpf.h")]


@pytest.fixture(scope="module")
def obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("po") / "openat_events.o"
    res = CliRunner().invoke(app, ["build", str(SRC), "-o", str(out), "--no-cache"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def target(tmp_path: Path) -> Path:
    f = tmp_path / "read me.txt"
    f.write_text("hello\n")
    return f


def test_set_reaches_the_program_and_records_are_decoded(obj: Path, target: Path,
                                                         tmp_path: Path) -> None:
    printk = tmp_path / "printk.txt"
    done = run_cli("-o", "/dev/null", "--probe", str(obj), "--set", "targ_comm=cat",
                   "--records", "-", "--printk", str(printk), "cat", str(target))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert done.stdout.splitlines()[-1] == "hello"          # cat's own output follows
    recs = [ln["record"] for ln in lines]
    assert {ln["map"] for ln in lines} == {"events"}
    assert {r["comm"] for r in recs} == {"cat"}
    assert len({r["pid"] for r in recs}) == 1
    assert recs[-1]["fname"] == str(target)                  # the file it was asked for,
    assert recs[-1]["flags"] == 0                            # O_RDONLY as cat opens it
    # the readable lines say the same, one per record, in the same order
    text = printk.read_text().splitlines()
    assert len(text) == len(recs)
    assert text[-1] == (f'ringbuf events: pid={recs[-1]["pid"]} flags=0 comm="cat" '
                        f'fname="{target}"')
    # how the type was chosen is said once
    assert done.stderr.count("struct event, the program's only struct of 280 bytes") == 1


def test_without_set_the_filter_matches_nothing(obj: Path, target: Path) -> None:
    done = run_cli("-o", "/dev/null", "--probe", str(obj), "--records", "-",
                   "cat", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"


def test_record_type_names_the_struct(obj: Path, target: Path) -> None:
    done = run_cli("-o", "/dev/null", "--probe", str(obj), "--set", "targ_comm=cat",
                   "--record-type", "events=struct event", "--records", "-",
                   "cat", str(target))
    assert done.returncode == 0, done.stderr
    assert "given by --record-type" in done.stderr
    assert json.loads(done.stdout.splitlines()[-2])["record"]["fname"] == str(target)


@pytest.mark.parametrize(("args", "message"), [
    (("--set", "nosuch=1"), "trace-run: global 'nosuch': no such global variable "
                            "(settable: targ_comm)"),
    (("--set", "targ_comm=" + "a" * 23), "trace-run: global 'targ_comm': 23 bytes and the "
     "terminating NUL do not fit in 'const volatile char[16]'"),
    (("--set", "targ_comm"), "targ_comm"),
    (("--record-type", "events=nosuch"), "trace-run: --record-type events=nosuch: no type "
                                         "'nosuch' in the object's BTF or DWARF"),
    (("--record-type", "nomap=struct event"), "nomap"),
])
def test_bad_settings_are_one_line(obj: Path, args: tuple[str, ...], message: str) -> None:
    done = run_cli("-o", "/dev/null", "--probe", str(obj), *args, "true")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert message in done.stderr
