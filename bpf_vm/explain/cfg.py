"""A program's control-flow graph as an SVG picture, laid out in pure Python.

Blocks are basic blocks as a reader sees them: a block ends at a jump, an ``exit``, a
BPF-to-BPF call (whose return lands on the next instruction) and before any jump
target or subprogram start; a helper call does not end one (control comes back to the
next instruction).  Edges: ``fall`` (to the next block), ``jump`` (a taken jump),
``call`` (into a subprogram, drawn dashed).

The layout is Sugiyama's layered scheme, small and deterministic: back edges (found by a
depth-first walk from the entry and each subprogram) are reversed, blocks get the
layer of their longest path from a source, long edges pass through dummy points, the
order within layers follows four barycentre sweeps (ties by pc), and x positions
follow the median of the layer above while keeping the order.  The same program always
gives the same picture, character for character.

The picture's DOM (the page's contract): ``svg.cfg`` with one ``g.block`` per block
(``data-start``, ``data-end`` = its first and last pc) and one ``path.edge`` per edge
(``data-from``, ``data-to`` = the two blocks' starts, ``data-kind``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import escape

from ..insn import Insn, jump_target
from ..isa import CallKind, Kind

CHAR_W = 6.6        # monospace 11px
LINE_H = 14
PAD = 6
GAP_X = 28
GAP_Y = 36
MAX_CHARS = 44
MAX_LINES = 12


@dataclass
class Block:
    start: int
    end: int                         # the last instruction's pc
    lines: list[str] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    layer: int = 0
    x: float = 0.0
    y: float = 0.0


def blocks_and_edges(insns: list[Insn | None]) -> tuple[list[tuple[int, int]],
                                                          list[tuple[int, int, str]]]:
    """``[(start, end)]`` of every block in pc order and ``[(from, to, kind)]`` of every
    edge (block starts)."""
    n = len(insns)
    leaders = {0}
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        target = jump_target(insn, pc)
        kind = insn.kind
        if target is not None and kind is not Kind.LD_IMM64:
            leaders.add(target)
        if kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO, Kind.EXIT) or (
                kind is Kind.CALL and insn.src == CallKind.LOCAL):
            leaders.add(pc + insn.slots)
        if kind is Kind.LD_IMM64 and target is not None:
            leaders.add(target)      # a callback's first instruction
    starts = sorted(s for s in leaders if s < n and insns[s] is not None)
    blocks: list[tuple[int, int]] = []
    for i, s in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n
        last = s
        pc = s
        while pc < stop:
            ins = insns[pc]
            last = pc
            pc += ins.slots if ins is not None else 1
        blocks.append((s, last))
    start_of = {}
    for s, e in blocks:
        for pc in range(s, e + 1):
            start_of[pc] = s
    edges: list[tuple[int, int, str]] = []
    for s, e in blocks:
        insn = insns[e]
        if insn is None:
            continue
        nxt = e + insn.slots
        kind = insn.kind
        target = jump_target(insn, e)
        if kind is Kind.EXIT:
            continue
        if kind is Kind.JA:
            if target is not None and target in start_of:
                edges.append((s, start_of[target], "jump"))
            continue
        if kind in (Kind.JCOND, Kind.MAY_GOTO) and target is not None and target in start_of:
            edges.append((s, start_of[target], "jump"))
        if kind is Kind.CALL and insn.src == CallKind.LOCAL and target in start_of:
            edges.append((s, start_of[target], "call"))
        if nxt in start_of:
            edges.append((s, start_of[nxt], "fall"))
    return blocks, edges


def _layers(order: list[int], succ: dict[int, list[int]], roots: list[int]) -> tuple[
        dict[int, int], set[tuple[int, int]]]:
    """Layer of each block (longest path after reversing back edges) and the back edges."""
    back: set[tuple[int, int]] = set()
    state: dict[int, int] = {}
    for root in [*roots, *order]:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    preds: dict[int, list[int]] = {b: [] for b in order}
    for a in order:
        for b in succ[a]:
            if (a, b) not in back and a != b:
                preds[b].append(a)
    layer: dict[int, int] = {}
    remaining = {b: len(preds[b]) for b in order}
    ready = [b for b in order if remaining[b] == 0]
    while ready:
        ready.sort()
        b = ready.pop(0)
        layer[b] = max((layer[p] + 1 for p in preds[b]), default=0)
        for c in succ[b]:
            if (b, c) in back or b == c:
                continue
            remaining[c] -= 1
            if remaining[c] == 0:
                ready.append(c)
    for b in order:               # unreachable cycles (none in verified programs)
        layer.setdefault(b, 0)
    return layer, back


def layout(insns: list[Insn | None], texts: dict[int, str]) -> tuple[
        list[Block], list[tuple[int, int, str, list[tuple[float, float]]]], float, float]:
    """Blocks with positions and edges with their points; the picture's width, height."""
    spans, edges = blocks_and_edges(insns)
    blocks = {s: Block(s, e) for s, e in spans}
    order = [s for s, _ in spans]
    for blk in blocks.values():
        pcs = [pc for pc in range(blk.start, blk.end + 1) if pc in texts]
        shown = pcs if len(pcs) <= MAX_LINES else [*pcs[:MAX_LINES - 1], -1]
        for pc in shown:
            line = "..." if pc < 0 else f"{pc}: {texts[pc]}"
            blk.lines.append(line if len(line) <= MAX_CHARS else line[:MAX_CHARS - 1] + "…")
        blk.width = max(len(t) for t in blk.lines) * CHAR_W + 2 * PAD if blk.lines else 40
        blk.height = len(blk.lines) * LINE_H + 2 * PAD
    succ: dict[int, list[int]] = {s: [] for s in order}
    for a, b, _k in edges:
        if b not in succ[a]:
            succ[a].append(b)
    roots = [0, *sorted(b for _a, b, k in edges if k == "call")]
    layer, back = _layers(order, succ, roots)
    # layered graph with dummies on long edges
    nodes: dict[object, tuple[int, float]] = {s: (layer[s], blocks[s].width) for s in order}
    chains: dict[tuple[int, int, str], list[object]] = {}
    for a, b, k in edges:
        chain: list[object] = [a]
        if (a, b) not in back:
            for li in range(layer[a] + 1, layer[b]):
                d = ("d", a, b, k, li)
                nodes[d] = (li, 2.0)
                chain.append(d)
        chain.append(b)
        chains[(a, b, k)] = chain
    nlayers = max((v[0] for v in nodes.values()), default=0) + 1
    rows: list[list[object]] = [[] for _ in range(nlayers)]
    for key in [*order, *sorted((k for k in nodes if isinstance(k, tuple)), key=str)]:
        rows[nodes[key][0]].append(key)
    up: dict[object, list[object]] = {k: [] for k in nodes}
    down: dict[object, list[object]] = {k: [] for k in nodes}
    for chain in chains.values():
        for u, v in itertools.pairwise(chain):
            if nodes[u][0] < nodes[v][0]:
                up[v].append(u)
                down[u].append(v)
    pos = {k: float(i) for row in rows for i, k in enumerate(row)}

    def sweep(row: list[object], nb: dict[object, list[object]]) -> None:
        def key(k: object) -> tuple[float, float]:
            ns = nb[k]
            return (sum(pos[n] for n in ns) / len(ns) if ns else pos[k], pos[k])
        row.sort(key=key)
        for i, k in enumerate(row):
            pos[k] = float(i)
    for _ in range(4):
        for row in rows[1:]:
            sweep(row, up)
        for row in reversed(rows[:-1]):
            sweep(row, down)
    # x: pack left to right, pulled towards the median of the nodes above
    xs: dict[object, float] = {}
    for row in rows:
        cursor = 0.0
        for node in row:
            w = nodes[node][1]
            want = cursor
            ns = sorted(xs[n] + nodes[n][1] / 2 for n in up[node] if n in xs)
            if ns:
                want = max(cursor, ns[len(ns) // 2] - w / 2)
            xs[node] = want
            cursor = want + w + GAP_X
    ys: list[float] = []
    y = 10.0
    for row in rows:
        ys.append(y)
        y += max((blocks[k].height if k in blocks else 0.0 for k in row), default=0.0) + GAP_Y
    for s, blk in blocks.items():
        blk.layer = layer[s]
        blk.x = xs[s] + 10
        blk.y = ys[layer[s]]
    width = max((xs[k] + nodes[k][1] for k in nodes), default=0.0) + 40
    height = y
    drawn: list[tuple[int, int, str, list[tuple[float, float]]]] = []
    for (a, b, k), chain in chains.items():
        pts: list[tuple[float, float]] = []
        for n in chain:
            if isinstance(n, int):
                nb = blocks[n]
                pts.append((nb.x + nb.width / 2, nb.y))
            else:
                pts.append((xs[n] + 10 + 1, ys[nodes[n][0]]))
        src, dst = blocks[a], blocks[b]
        pts[0] = (pts[0][0], src.y + src.height)
        pts[-1] = (pts[-1][0], dst.y)
        if (a, b) in back or a == b:
            right = max(src.x + src.width, dst.x + dst.width) + 12
            pts = [(src.x + src.width, src.y + src.height - 6), (right, src.y + src.height),
                   (right, dst.y), (dst.x + dst.width, dst.y + 6)]
        drawn.append((a, b, k, pts))
    return list(blocks.values()), drawn, width + 20, height


def _path(pts: list[tuple[float, float]]) -> str:
    if len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        my = (y0 + y1) / 2
        return f"M{x0:.1f},{y0:.1f} C{x0:.1f},{my:.1f} {x1:.1f},{my:.1f} {x1:.1f},{y1:.1f}"
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def cfg_svg(insns: list[Insn | None], texts: dict[int, str], name: str) -> str:
    """The SVG picture of a program's CFG (``texts``: each pc's instruction text)."""
    blocks, edges, width, height = layout(insns, texts)
    out = [f'<svg class="cfg" data-program="{escape(name)}"'
           f' width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
           ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/>'
           '</marker></defs>']
    for a, b, k, pts in edges:
        out.append(f'<path class="edge {k}" data-from="{a}" data-to="{b}" data-kind="{k}"'
                   f' d="{_path(pts)}" marker-end="url(#arrow)"/>')
    for blk in blocks:
        out.append(f'<g class="block" data-start="{blk.start}" data-end="{blk.end}">'
                   f'<rect x="{blk.x:.1f}" y="{blk.y:.1f}" width="{blk.width:.1f}"'
                   f' height="{blk.height:.1f}" rx="3"/>')
        for i, line in enumerate(blk.lines):
            out.append(f'<text x="{blk.x + PAD:.1f}" y="{blk.y + PAD + (i + 1) * LINE_H - 3:.1f}">'
                       f'{escape(line)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


__all__ = ["blocks_and_edges", "cfg_svg", "layout"]
