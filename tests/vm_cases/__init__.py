"""Data-driven VM cases: parser shared by the case runners."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent


@dataclass
class Case:
    name: str
    file: str
    line: int
    asm: str
    mem: bytes | None = None
    result: int | None = None
    error: tuple[str, int] | None = None
    mem_after: bytes | None = None
    kernel: str = ""   # "skip: reason" to keep a case away from the kernel oracle
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"


def parse(path: Path) -> list[Case]:
    cases: list[Case] = []
    cur: Case | None = None
    lines: list[str] = []

    def finish() -> None:
        if cur is not None:
            cur.asm = "\n".join(lines) + "\n"
            if cur.result is None and cur.error is None:
                raise ValueError(f"{path.name}:{cur.line}: case {cur.name!r} expects nothing")
            cases.append(cur)

    for no, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.startswith("## "):
            finish()
            cur, lines = Case(raw[3:].strip(), path.stem, no, ""), []
        elif cur is None:
            continue
        elif raw.startswith("-- "):
            key, _, value = raw[3:].partition(":")
            key, value = key.strip(), value.strip()
            if key == "mem":
                cur.mem = bytes.fromhex(value)
            elif key == "mem-after":
                cur.mem_after = bytes.fromhex(value)
            elif key == "result":
                cur.result = int(value, 0)
            elif key == "error":
                kind, pc = value.split()
                cur.error = (kind, int(pc))
            elif key == "kernel":
                cur.kernel = value
            else:
                cur.extra[key] = value
        else:
            lines.append(raw)
    finish()
    return cases


def all_cases() -> list[Case]:
    return [c for p in sorted(HERE.glob("*.txt")) for c in parse(p)]
