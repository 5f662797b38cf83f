/* The explorer page's script: rebuilds each step's state from the recorded changes and
 * renders the panes.  The DOM contract is in bpf_vm/explain/page.py's docstring. */
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  const MASK = (1n << 64n) - 1n;
  const CP = 128;   // register checkpoints every CP steps
  const REGS = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10"];

  // ---- small helpers ---------------------------------------------------------------
  const $ = (sel) => document.querySelector(sel);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  const big = (hex) => BigInt("0x" + (hex || "0"));
  const hex = (v) => "0x" + v.toString(16);
  const signed = (v) => (v >= (1n << 63n) ? v - (1n << 64n) : v);
  function leHex(bytesHex) {      // little-endian bytes -> value
    let v = 0n;
    for (let i = bytesHex.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(bytesHex.substr(i, 2), 16));
    return v;
  }
  function slotOf(v) {
    const key = v >> 32n;
    if (key & 0xfffn) return null;
    return Number(key >> 12n);
  }
  const offOf = (v) => Number(v & 0xffffffffn);
  const MAPS_BY_HANDLE = {};
  for (const m of DATA.maps) MAPS_BY_HANDLE[m.handle] = m;

  const MEM_CP = 4096;   // memory checkpoints every MEM_CP steps
  function copyMem(m) {
    const bytes = new Map(), touched = new Map();
    for (const [slot, b] of m.bytes) bytes.set(slot, new Map(b));
    for (const [slot, t] of m.touched) touched.set(slot, new Set(t));
    return { bytes, touched, entries: new Map(m.entries) };
  }

  // ---- a recorded run ----------------------------------------------------------------
  class Run {
    constructor(d, index) {
      this.d = d;
      this.index = index;
      this.steps = d.steps;
      this.n = d.steps.length;
      const regs = d.regs0.map(big);
      this.cp = [regs.slice()];
      this.tails = new Int32Array(this.n);
      this.frameStart = new Int32Array(this.n);
      const stack = [];
      let tails = 0;
      for (let k = 0; k < this.n; k++) {
        const s = this.steps[k];
        const depth = s.d || 0;
        while (stack.length > depth) stack.pop();
        this.frameStart[k] = stack.length ? stack[stack.length - 1] : -1;
        if (s.e === "call") stack.push(k);
        if (s.x) tails = s.x[3];
        this.tails[k] = tails;
        const r = s.r;
        if (r) for (let i = 0; i < r.length; i += 2) regs[r[i]] = big(r[i + 1]);
        if ((k + 1) % CP === 0) this.cp.push(regs.slice());
      }
      this.memK = -1;
      this.mem = null;
    }
    regsAt(k) {          // registers after step k (k = -1: before the first)
      const start = Math.floor((k + 1) / CP);
      const regs = this.cp[start].slice();
      for (let j = start * CP; j <= k; j++) {
        const r = this.steps[j].r;
        if (r) for (let i = 0; i < r.length; i += 2) regs[r[i]] = big(r[i + 1]);
      }
      return regs;
    }
    // memory known after step k: slot -> Map(offset -> byte); also touched stack bytes.
    // Forward from the last state asked for; backward from a copy kept every MEM_CP steps.
    memAt(k) {
      if (this.mem === null || k < this.memK) {
        const c = Math.floor((k + 1) / MEM_CP);
        let i = Math.min(c, this.memCp ? this.memCp.length - 1 : -1);
        if (i >= 0) { this.mem = copyMem(this.memCp[i]); this.memK = i * MEM_CP - 1; }
        else {
          this.mem = { bytes: new Map(), touched: new Map(), entries: new Map() };
          if (this.d.ctx) this.put(9, 0, this.d.ctx, false);
          this.memK = -1;
          this.memCp = [copyMem(this.mem)];
        }
      }
      for (let j = this.memK + 1; j <= k; j++) {
        this.apply(this.steps[j]);
        if ((j + 1) % MEM_CP === 0 && this.memCp.length === (j + 1) / MEM_CP) this.memCp.push(copyMem(this.mem));
      }
      this.memK = k;
      return this.mem;
    }
    put(slot, off, bytesHex, touch) {
      let m = this.mem.bytes.get(slot);
      if (!m) { m = new Map(); this.mem.bytes.set(slot, m); }
      let t = this.mem.touched.get(slot);
      if (touch && !t) { t = new Set(); this.mem.touched.set(slot, t); }
      for (let i = 0; i * 2 < bytesHex.length; i++) {
        m.set(off + i, parseInt(bytesHex.substr(i * 2, 2), 16));
        if (touch) t.add(off + i);
      }
    }
    apply(s) {
      if (s.e === "call") {
        const slot = 1 + (s.d || 0) + 1;
        this.mem.bytes.delete(slot);
        this.mem.touched.delete(slot);
      }
      if (s.m) for (const a of s.m) {
        const addr = big(a[1]);
        const slot = slotOf(addr);
        if (slot === null) continue;
        this.put(slot, offOf(addr), a[2], slot >= 1 && slot <= 8);
      }
      if (s.k) for (const a of s.k) {
        if (a[1] === "d") this.mem.entries.set(a[0], null);
        else if (a[2] !== null && a[2] !== undefined) this.mem.entries.set(a[0], a[2]);
        else if (!this.mem.entries.has(a[0])) this.mem.entries.set(a[0], undefined);
      }
    }
  }

  // ---- state of the page -------------------------------------------------------------
  const runs = DATA.runs.map((d, i) => new Run(d, i));
  let run = null;        // the current Run
  let k = 0;             // the current step
  let shownProgram = -1; // the program whose rows #insns holds
  let rows = new Map();  // pc -> row element
  let cfgBlocks = new Map(), cfgEdges = [];
  let shownSource = -1;
  let srcRows = [];

  function prog(i) { return DATA.programs[i]; }
  function insnAt(p, pc) {
    const P = prog(p);
    if (!P._byPc) { P._byPc = new Map(); for (const row of P.insns) P._byPc.set(row[0], row); }
    return P._byPc.get(pc);
  }
  function funcOf(p, pc) {
    let name = prog(p).name;
    for (const [start, n] of prog(p).funcs) if (start <= pc) name = n;
    return name;
  }
  function blockStart(P, pc) {
    if (!P._blockOf) {
      P._blockOf = new Map(); P._blockEnd = new Map();
      for (const [s, e] of P.blocks) { for (let q = s; q <= e; q++) P._blockOf.set(q, s); P._blockEnd.set(s, e); }
    }
    return P._blockOf.get(pc);
  }
  function helperCall(s) {
    const row = insnAt(s.p, s.pc);
    return row && row[4] && row[4].h !== undefined ? row[4].h : null;
  }

  // ---- value kinds -------------------------------------------------------------------
  function kindOf(v, depth) {
    const slot = slotOf(v);
    if (v === 0n || slot === null || slot === 0) return "scalar";
    const off = offOf(v);
    if (slot >= 1 && slot <= 8) {
      const frame = slot - 1, rel = off - 512;
      return "stack fp" + (frame === depth ? "" : "[" + frame + "]") + (rel > 0 ? "+" + rel : String(rel));
    }
    if (slot === 9) {
      if (off === 0) return "ctx";
      const f = DATA.ctx_fields;
      const name = f && off % 8 === 0 && off / 8 < f.length ? " (&" + f[off / 8] + ")" : "";
      return "ctx+" + off + name;
    }
    if (slot === 14) return "func pc " + off;
    if (slot === 15) {
      const m = MAPS_BY_HANDLE[v.toString(16)];
      return "map_ptr(" + (m ? m.name : "?") + ")";
    }
    const region = run && run.d.regions[String(slot)];
    if (!region) return "pointer?";
    const arr = /^map '(.*)' values$/.exec(region);   // an array: all its values
    if (arr) {
      const spec = DATA.maps.find((x) => x.name === arr[1]);
      const size = spec && spec.value_size ? spec.value_size : 0;
      if (size) return "map_value(" + arr[1] + "[" + Math.floor(off / size) + "])" + (off % size ? "+" + (off % size) : "");
      return "map_value(" + arr[1] + ")+" + off;
    }
    const m = /^map '(.*)' value/.exec(region);         // a hash map's element
    if (m) return "map_value(" + m[1] + ")" + (off ? "+" + off : "");
    if (/^ring buffer/.test(region)) return "ringbuf_mem+" + off;
    return region + "+" + off;
  }

  // ---- instruction text with operands ------------------------------------------------
  function fillText(node, text, helper) {
    let last = 0;
    const re = /\*\((?:u8|u16|u32|u64|s8|s16|s32) \*\)\(r\d+ [+-]\d+\)|\b[rw](?:10|[0-9])\b/g;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
      const tok = m[0];
      const span = el("span", "operand", tok);
      if (tok[0] === "*") {
        span.className = "operand mem";
        span.dataset.mem = tok;
      } else span.dataset.reg = "r" + tok.slice(1);
      node.appendChild(span);
      last = m.index + tok.length;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
    if (helper !== null && DATA.helpers[helper]) {
      const name = DATA.helpers[helper].name;
      for (const t of node.childNodes) {
        if (t.nodeType === 3 && t.textContent.indexOf(name) >= 0) {
          const i = t.textContent.indexOf(name);
          const after = t.splitText(i);
          after.splitText(name.length);
          const a = el("a", "helper", name);
          a.href = "#helper-" + name;
          after.replaceWith(a);
          break;
        }
      }
    }
  }

  function showProgram(p) {
    if (p === shownProgram) return;
    shownProgram = p;
    const P = prog(p);
    const box = $("#insns");
    box.textContent = "";
    rows = new Map();
    const funcs = new Map(P.funcs.map(([pc, n]) => [pc, n]));
    for (const row of P.insns) {
      const [pc, text, , , info] = row;
      if (funcs.has(pc)) box.appendChild(el("div", "func-label", funcs.get(pc) + ":"));
      const div = el("div", "insn");
      div.dataset.pc = pc;
      div.appendChild(el("span", "pc", pc + ":"));
      const t = el("span", "text");
      fillText(t, text, info && info.h !== undefined ? String(info.h) : null);
      div.appendChild(t);
      if (info && info.map) div.appendChild(el("span", "note", "map '" + info.map + "'"));
      if (info && info.f) div.appendChild(el("span", "note", "→ " + info.f));
      box.appendChild(div);
      rows.set(pc, div);
    }
    $("#insn-title").textContent = "Instructions: " + P.name + (P.section ? "  (" + P.section + ", " + P.type + ")" : "");
    // the CFG
    $("#cfg").innerHTML = P.svg;
    $("#cfg-name").textContent = P.name;
    cfgBlocks = new Map();
    for (const g of document.querySelectorAll("#cfg g.block")) cfgBlocks.set(Number(g.dataset.start), g);
    cfgEdges = Array.from(document.querySelectorAll("#cfg path.edge"));
    // the verdicts
    const v = P.verifier;
    const verdict = $("#verdict");
    verdict.textContent = "";
    if (v) verdict.appendChild(el("div", "", "bpf-vm's verifier: " + (v.accepted ? "accepted" : "refused: " + v.error) + ", " + v.processed + " instructions processed"));
    const kern = P.kernel;
    if (kern) verdict.appendChild(el("div", "", "host kernel: " + (kern.unavailable ? kern.unavailable : kern.accepted ? "accepted" : "refused: " + kern.error)));
    $("#kernel-log").hidden = !(kern && kern.log);
    $("#kernel-log-text").textContent = "";
    $("#kernel-log-text")._for = -1;
  }

  // ---- the source pane -----------------------------------------------------------------
  function sourceAt(P, pc) {
    let best = null;
    for (const l of P.lines) { if (l[0] <= pc) best = l; else break; }
    return best;
  }
  function showSource(fileIndex) {
    if (fileIndex === shownSource) return;
    shownSource = fileIndex;
    const box = $("#source");
    box.textContent = "";
    srcRows = [];
    if (fileIndex < 0) { $("#source-title").textContent = "Source (no line info)"; return; }
    const f = DATA.sources[fileIndex];
    $("#source-title").textContent = "Source: " + f.name + (f.found ? "" : " (lines from BTF line info)");
    if (Array.isArray(f.lines)) {
      f.lines.forEach((text, i) => addSrc(box, i + 1, text));
    } else {
      const nums = Object.keys(f.lines).map(Number).sort((a, b) => a - b);
      for (const n of nums) addSrc(box, n, f.lines[String(n)]);
    }
  }
  function addSrc(box, n, text) {
    const div = el("div", "src-line");
    div.dataset.line = n;
    div.appendChild(el("span", "ln", String(n)));
    div.appendChild(document.createTextNode(text));
    box.appendChild(div);
    srcRows[n] = div;
  }

  // ---- use-def -----------------------------------------------------------------------------
  function defines(s, reg) {
    const row = insnAt(s.p, s.pc);
    if (row && row[3].indexOf(reg) >= 0) return true;
    if (s.r) for (let i = 0; i < s.r.length; i += 2) if (s.r[i] === reg) return true;
    return false;
  }
  // the step whose write produced the value of reg read at step `at` (before it)
  function findDef(at, reg) {
    const steps = run.steps;
    let depth = at < run.n ? steps[at].d || 0 : steps[run.n - 1].d || 0;
    for (let j = at - 1; j >= 0; j--) {
      const s = steps[j], d = s.d || 0;
      if (d > depth) {
        if (reg <= 5 && s.e === "exit" && d === depth + 1) depth = d;
        continue;
      }
      if (d < depth) {      // walked out of the frame: j is the call that opened it
        if (reg === 10) return j;
        depth = d;
        continue;
      }
      if (s.e === "exit" && reg !== 0) continue;
      if (defines(s, reg)) return j;
    }
    return -1;
  }
  function findMemDef(at, addr, size) {
    for (let j = at - 1; j >= 0; j--) {
      const m = run.steps[j].m;
      if (!m) continue;
      for (const a of m) {
        if (a[0] !== "w") continue;
        const start = big(a[1]), len = BigInt(a[2].length / 2);
        if (start < addr + BigInt(size) && addr < start + len) return j;
      }
    }
    return -1;
  }
  function clearDefs() {
    for (const r of document.querySelectorAll("#insns .insn.def, #insns .insn.dep")) r.classList.remove("def", "dep");
    for (const r of document.querySelectorAll("#regs tr.def, #stack tr.def")) r.classList.remove("def");
    $("#usedef-note").textContent = "";
  }
  function markDefs(first, what) {
    clearDefs();
    if (first < 0) { $("#usedef-note").textContent = what + ": no write in this run (its value at the start)"; return; }
    const cur = run.steps[k].p;
    const mark = (j, cls) => {
      const s = run.steps[j];
      if (s.p === cur && rows.has(s.pc)) rows.get(s.pc).classList.add(cls);
    };
    mark(first, "def");
    const s0 = run.steps[first];
    let note = what + " ← step " + first + " (" + prog(s0.p).name + " pc " + s0.pc + ")";
    if (s0.p !== cur) note += ", in another program: before a tail call";
    $("#usedef-note").textContent = note;
    // the values that one read, transitively
    const seen = new Set([first]);
    const queue = [first];
    while (queue.length && seen.size < 64) {
      const j = queue.shift();
      const s = run.steps[j];
      const row = insnAt(s.p, s.pc);
      if (!row) continue;
      for (const reg of row[2]) {
        if (reg === 10) continue;
        const d = findDef(j, reg);
        if (d >= 0 && !seen.has(d)) { seen.add(d); queue.push(d); mark(d, "dep"); }
      }
      if (s.m) for (const a of s.m) if (a[0] === "r") {
        const d = findMemDef(j, big(a[1]), a[2].length / 2);
        if (d >= 0 && !seen.has(d)) { seen.add(d); queue.push(d); mark(d, "dep"); }
      }
    }
    if (rows.has(run.steps[first].pc) && run.steps[first].p === cur) rows.get(run.steps[first].pc).classList.add("def");
  }
  function operandClicked(span) {
    const row = span.closest(".insn");
    if (!row) return;
    const pc = Number(row.dataset.pc);
    const cur = run.steps[k];
    let at = -1;      // the step that ran this row: the current one, else the last before
    for (let j = k; j >= 0; j--) { const s = run.steps[j]; if (s.p === cur.p && s.pc === pc) { at = j; break; } }
    if (at < 0) { clearDefs(); $("#usedef-note").textContent = "this instruction has not run yet"; return; }
    const s = run.steps[at];
    const ins = insnAt(s.p, s.pc);
    if (span.dataset.reg) {
      const reg = Number(span.dataset.reg.slice(1));
      if (ins[2].indexOf(reg) < 0 && ins[3].indexOf(reg) >= 0) { markDefs(at, span.dataset.reg); return; }
      markDefs(findDef(at, reg), span.dataset.reg);
      return;
    }
    const m = (s.m || []).find((a) => a[0] === "r") || (s.m || [])[0];
    if (!m) { clearDefs(); return; }
    if (m[0] === "w" && !(s.m || []).some((a) => a[0] === "r")) { markDefs(at, span.dataset.mem); return; }
    markDefs(findMemDef(at, big(m[1]), m[2].length / 2), span.dataset.mem);
  }

  // ---- rendering a step ------------------------------------------------------------------
  function render() {
    const s = run.steps[k];
    if (!s) return;
    showProgram(s.p);
    const P = prog(s.p);
    const depth = s.d || 0;
    clearDefs();
    // instructions: executed (this program, up to k) and current
    const executed = new Set();
    const blocksRun = new Set(), edgesRun = new Set();
    const lastAt = [];
    for (let j = 0; j <= k; j++) {
      const t = run.steps[j], d = t.d || 0;
      if (t.p !== s.p) { lastAt[d] = null; continue; }
      executed.add(t.pc);
      const b = blockStart(P, t.pc);
      blocksRun.add(b);
      const prev = lastAt[d];
      if (prev !== null && prev !== undefined && blockStart(P, t.pc) === t.pc && P._blockEnd.get(blockStart(P, prev)) === prev) edgesRun.add(blockStart(P, prev) + ">" + t.pc);
      lastAt[d] = t.pc;
      if (t.e === "call") {
        const row = insnAt(t.p, t.pc);
        if (row && row[4] && row[4].c !== undefined) edgesRun.add(blockStart(P, t.pc) + ">" + row[4].c);
        lastAt[d + 1] = null;
      }
    }
    for (const [pc, row] of rows) {
      row.classList.toggle("executed", executed.has(pc));
      row.classList.toggle("current", pc === s.pc);
    }
    const curRow = rows.get(s.pc);
    if (curRow) scrollInto(curRow, $("#insn-pane"));
    for (const [start, g] of cfgBlocks) {
      g.classList.toggle("executed", blocksRun.has(start));
      g.classList.toggle("current", start === blockStart(P, s.pc));
    }
    for (const e of cfgEdges) e.classList.toggle("executed", edgesRun.has(e.dataset.from + ">" + e.dataset.to));
    const curBlock = cfgBlocks.get(blockStart(P, s.pc));
    if (curBlock) scrollInto(curBlock, $("#cfg-pane"));
    renderFrames(s);
    renderRegs(s, depth);
    renderMemory(s, depth);
    renderSource(P, s, executed);
    renderVerifier(P, s);
    renderTimeline(s);
  }
  function scrollInto(node, pane) {
    const r = node.getBoundingClientRect(), p = pane.getBoundingClientRect();
    if (r.top < p.top || r.bottom > p.bottom) pane.scrollTop += r.top - p.top - p.height / 3;
  }
  function renderFrames(s) {
    const parts = [];
    let j = k;
    let cur = s;
    while (true) {
      parts.push("#" + (cur.d || 0) + " " + funcOf(cur.p, cur.pc) + " (pc " + cur.pc + ")");
      const c = run.frameStart[j];
      if (c < 0) break;
      j = c; cur = run.steps[c];
    }
    $("#frames").textContent = "frames: " + parts.join("  ←  ");
  }
  function renderRegs(s, depth) {
    const before = run.regsAt(k - 1), after = run.regsAt(k);
    const row = insnAt(s.p, s.pc);
    const uses = row ? row[2] : [];
    const body = $("#regs tbody");
    if (!body.children.length) {
      for (const name of REGS) {
        const tr = el("tr");
        tr.dataset.reg = name;
        tr.appendChild(el("td", "name", name));
        tr.appendChild(el("td", "value"));
        tr.appendChild(el("td", "kind"));
        tr.appendChild(el("td", "prev"));
        body.appendChild(tr);
      }
    }
    REGS.forEach((name, i) => {
      const tr = body.children[i];
      const v = after[i];
      const val = tr.children[1];
      val.dataset.u64 = v.toString();
      const sv = signed(v);
      val.textContent = hex(v) + (v < 1000000n || sv < 0n && sv > -1000000n ? " (" + sv.toString() + ")" : "");
      tr.children[2].textContent = kindOf(v, depth);
      const changed = before[i] !== v;
      tr.classList.toggle("written", changed);
      tr.classList.toggle("read", uses.indexOf(i) >= 0);
      tr.children[3].textContent = changed ? hex(before[i]) : "";
    });
  }
  function renderMemory(s, depth) {
    const mem = run.memAt(k);
    const slot = 1 + depth;
    $("#stack-frame").textContent = "(frame " + depth + ")";
    // stack: 8-byte rows of touched bytes
    const touched = mem.touched.get(slot) || new Set();
    const bytes = mem.bytes.get(slot) || new Map();
    const accessed = new Map();
    for (const a of s.m || []) {
      const addr = big(a[1]);
      if (slotOf(addr) !== slot) continue;
      const off = offOf(addr);
      for (let i = 0; i < a[2].length / 2; i++) {
        const q = (off + i) & ~7;
        const prev = accessed.get(q) || { r: false, w: false, old: null };
        if (a[0] === "r") prev.r = true; else { prev.w = true; if (a[3]) prev.old = true; }
        accessed.set(q, prev);
      }
    }
    const groups = new Set();
    for (const off of touched) groups.add(off & ~7);
    const body = $("#stack tbody");
    body.textContent = "";
    for (const q of Array.from(groups).sort((a, b) => a - b)) {
      let hexb = "", le = "";
      for (let i = 0; i < 8; i++) {
        const b = bytes.has(q + i) ? bytes.get(q + i) : 0;
        const h = b.toString(16).padStart(2, "0");
        hexb += touched.has(q + i) ? h : "..";
        le = h + le;
      }
      const tr = el("tr");
      tr.dataset.off = String(q - 512);
      tr.appendChild(el("td", "", "fp" + (q - 512)));
      tr.appendChild(el("td", "", hexb));
      tr.appendChild(el("td", "", "0x" + BigInt("0x" + le).toString(16)));
      const acc = accessed.get(q);
      let prev = "";
      if (acc && acc.w) {        // the bytes of this slot the step overwrote, as they were
        for (const a of s.m) {
          if (a[0] !== "w" || !a[3] || slotOf(big(a[1])) !== slot) continue;
          const off = offOf(big(a[1]));
          for (let i = 0; i < a[3].length / 2; i++) {
            if (((off + i) & ~7) !== q) continue;
            prev = prev || "........".repeat(2).split("");
            if (Array.isArray(prev)) { prev[2 * (off + i - q)] = a[3][2 * i]; prev[2 * (off + i - q) + 1] = a[3][2 * i + 1]; }
          }
        }
        if (Array.isArray(prev)) prev = prev.join("");
      }
      tr.appendChild(el("td", "prev", prev));
      if (acc) { tr.classList.toggle("read", acc.r); tr.classList.toggle("written", acc.w); }
      body.appendChild(tr);
    }
    // context
    const cbody = $("#ctx tbody");
    cbody.textContent = "";
    const ctx = run.d.ctx;
    const fields = DATA.ctx_fields;
    const ctxRead = new Set();
    for (const a of s.m || []) { const addr = big(a[1]); if (slotOf(addr) === 9) ctxRead.add(offOf(addr) & ~7); }
    if (ctx && fields) {
      fields.forEach((f, i) => {
        const tr = el("tr");
        tr.dataset.field = f;
        tr.appendChild(el("td", "", f));
        const v = leHex(ctx.substr(i * 16, 16));
        tr.appendChild(el("td", "", hex(v)));
        if (ctxRead.has(i * 8)) tr.classList.add("read");
        cbody.appendChild(tr);
      });
    } else if (ctx) {
      const tr = el("tr");
      tr.appendChild(el("td", "", (ctx.length / 2) + " bytes"));
      tr.appendChild(el("td", "", ctx.slice(0, 128) + (ctx.length > 128 ? "..." : "")));
      cbody.appendChild(tr);
    }
    // maps: entries touched so far
    const mbody = $("#maps tbody");
    mbody.textContent = "";
    const now = new Map();
    for (const a of s.k || []) now.set(a[0], a);
    for (const [e, value] of mem.entries) {
      const [mapName, key] = run.d.entries[e];
      const tr = el("tr");
      tr.dataset.entry = e;
      tr.appendChild(el("td", "", mapName));
      tr.appendChild(el("td", "", key));
      tr.appendChild(el("td", "", value === null ? "(deleted)" : value === undefined ? "(none)" : value));
      const a = now.get(e);
      const ops = { l: "lookup", u: "update", d: "delete", r: "read", w: "write" };
      tr.appendChild(el("td", "", a ? ops[a[1]] + (a[1] === "l" && a[2] === null ? " → NULL" : "") : ""));
      tr.appendChild(el("td", "prev", a && a[3] ? a[3] : ""));
      if (a) tr.classList.add(a[1] === "l" || a[1] === "r" ? "read" : "written");
      mbody.appendChild(tr);
    }
    // this step's memory accesses, in words
    const list = $("#mem");
    list.textContent = "";
    for (const a of s.m || []) {
      const addr = big(a[1]);
      const what = (a[0] === "r" ? "read " : "wrote ") + a[2].length / 2 + " bytes at " + kindOf(addr, depth) + ": " + a[2] + (a[3] ? "  (was " + a[3] + ")" : "");
      list.appendChild(el("li", a[0] === "r" ? "read" : "written", what));
    }
    if (s.x) {
      const [arr, idx, target, count] = s.x;
      list.appendChild(el("li", "", "tail call " + arr + "[" + idx + "] → " + (target || "empty slot") + " (" + count + " so far)"));
    }
  }
  function renderSource(P, s, executed) {
    const at = sourceAt(P, s.pc);
    showSource(at ? at[1] : (P.lines.length ? P.lines[0][1] : -1));
    for (const r of document.querySelectorAll("#source .src-line.current, #source .src-line.executed")) r.classList.remove("current", "executed");
    if (!at) return;
    const lines = new Set();
    for (const pc of executed) { const l = sourceAt(P, pc); if (l && l[1] === at[1]) lines.add(l[2]); }
    for (const n of lines) if (srcRows[n]) srcRows[n].classList.add("executed");
    const row = srcRows[at[2]];
    if (row) { row.classList.add("current"); scrollInto(row, $("#source-pane")); }
  }
  function renderVerifier(P, s) {
    const list = $("#verifier");
    list.textContent = "";
    const v = P.verifier;
    const states = v && v.states[String(s.pc)];
    if (!v) list.appendChild(el("li", "", "(not verified)"));
    else if (!states) list.appendChild(el("li", "", "no path of the verifier reaches pc " + s.pc));
    else {
      for (const [frame, line] of states) list.appendChild(el("li", "", "frame " + frame + ": " + s.pc + ": " + line));
      const all = v.paths && v.paths[String(s.pc)];
      if (all) list.appendChild(el("li", "", "… and " + (all - states.length) + " more paths (" + all + " in all)"));
    }
    const det = $("#kernel-log");
    if (det.open && P.kernel && P.kernel.log) renderKernelLog(P, s.pc);
  }
  function renderKernelLog(P, pc) {
    const pre = $("#kernel-log-text");
    if (pre._for !== shownProgram) {
      pre.textContent = "";
      pre._lines = [];
      for (const line of P.kernel.log.split("\n")) {
        const span = el("span", "", line + "\n");
        const m = /^(\d+):/.exec(line);
        span.dataset.pc = m ? m[1] : "";
        pre.appendChild(span);
        pre._lines.push(span);
      }
      pre._for = shownProgram;
    }
    let first = null;
    for (const span of pre._lines) {
      const hit = span.dataset.pc === String(pc);
      span.classList.toggle("hit", hit);
      if (hit && !first) first = span;
    }
    if (first) pre.scrollTop = first.offsetTop - pre.offsetTop - 20;
  }
  function renderTimeline(s) {
    $("#step-index").textContent = String(k);
    $("#step-count").textContent = String(run.n);
    $("#timeline").value = String(k);
    $("#tailcall-count").textContent = String(run.n ? run.tails[k] : 0);
    const banner = document.querySelector(".tailcall-banner");
    const failed = document.querySelector(".tailcall-failed");
    if (s.e === "tail" && s.x) {
      banner.textContent = "tail call → " + s.x[0] + "[" + s.x[1] + "] = " + s.x[2] + " · same stack frame · " + s.x[3] + " of " + DATA.max_tail_calls;
      banner.hidden = false;
    } else banner.hidden = true;
    if (s.e === "tailx" && s.x) {
      failed.textContent = "tail call → " + s.x[0] + "[" + s.x[1] + "] falls through (" + (s.x[3] >= DATA.max_tail_calls ? "the limit of " + DATA.max_tail_calls + " is reached" : "empty slot or index out of range") + ") · the program goes on";
      failed.hidden = false;
    } else failed.hidden = true;
  }

  // ---- navigation --------------------------------------------------------------------------
  function go(i) {
    if (!run || run.n === 0) return;
    k = Math.max(0, Math.min(run.n - 1, Number(i) | 0));
    render();
  }
  function step(delta) { go(k + (delta < 0 ? -1 : 1)); }
  function jump(pred) {
    if (!run) return false;
    for (let j = k + 1; j < run.n; j++) if (pred(run.steps[j])) { go(j); return true; }
    return false;
  }
  const isTail = (s) => s.e === "tail";
  const isCall = (s) => helperCall(s) !== null;
  // a map access: a keyed map's entry (lookup, update, delete, a load or store through a
  // looked-up pointer) or a ring buffer's helper (reserve, submit, discard, output)
  const RINGBUF_HELPERS = new Set([130, 131, 132, 133]);
  const isMap = (s) => !!s.k || RINGBUF_HELPERS.has(helperCall(s));
  const isExit = (s) => { const row = insnAt(s.p, s.pc); return !!row && /\) exit$/.test(row[1]); };
  function selectRun(i) {
    if (!runs.length) return;
    i = Math.max(0, Math.min(runs.length - 1, Number(i) | 0));
    run = runs[i];
    for (const li of document.querySelectorAll("#runs li")) li.classList.toggle("selected", Number(li.dataset.run) === i);
    const info = $("#run-info");
    const d = run.d;
    const lines = [];
    if (d.call) lines.push(d.call);
    if (d.pid !== undefined) lines.push("pid " + d.pid + (d.outcome ? " · " + d.outcome : ""));
    lines.push(run.n + " steps, " + d.tail_calls + " tail calls" + (d.r0 !== undefined ? ", r0 = " + hex(big(d.r0)) : ""));
    if (d.error) lines.push("fault: " + d.error);
    for (const p of d.printk || []) lines.push("printk: " + p);
    for (const [m, h] of d.ringbuf || []) lines.push("ringbuf " + m + ": " + h);
    if (d.truncated) lines.push("(steps after " + run.n + " not recorded)");
    info.textContent = lines.join("\n");
    $("#timeline").max = String(Math.max(0, run.n - 1));
    const marks = $("#marks");
    marks.textContent = "";
    if (run.n > 1) run.steps.forEach((s, j) => {
      if (s.e !== "tail") return;
      const m = el("span");
      m.style.left = (100 * j / (run.n - 1)) + "%";
      m.title = "tail call at step " + j;
      marks.appendChild(m);
    });
    k = 0;
    shownProgram = -1;
    if (run.n) { render(); return; }
    // nothing ran (the verifier refused the program): the program and why
    showProgram(d.entry);
    const P = prog(d.entry);
    $("#frames").textContent = "this run executed no instruction";
    renderTimeline({});
    $("#step-count").textContent = "0";
    const list = $("#verifier");
    list.textContent = "";
    const log = P.verifier && P.verifier.log;
    if (log) for (const line of log.split("\n")) if (line) list.appendChild(el("li", "", line));
    const bad = P.verifier ? P.verifier.pc : null;
    if (bad !== null && bad !== undefined && rows.has(bad)) rows.get(bad).classList.add("current");
  }

  // ---- set up ------------------------------------------------------------------------------
  function setup() {
    const list = $("#runs");
    runs.forEach((r, i) => {
      const li = el("li");
      li.dataset.run = String(i);
      if (r.d.pid !== undefined) li.appendChild(el("span", "pid", "[" + r.d.pid + "] "));
      li.appendChild(document.createTextNode(r.d.call || r.d.label || ("run " + i)));
      if (r.d.outcome && r.d.outcome !== "allow") li.appendChild(el("span", "pid", " " + r.d.outcome));
      li.title = (r.d.call || r.d.label || "") + "  (" + r.n + " steps)";
      list.appendChild(li);
    });
    list.addEventListener("click", (ev) => { const li = ev.target.closest("li"); if (li) selectRun(li.dataset.run); });
    const helpers = $("#helpers");
    for (const id of Object.keys(DATA.helpers)) {
      const h = DATA.helpers[id];
      const dt = el("dt", "", h.name + "(" + h.args.join(", ") + ")");
      dt.id = "helper-" + h.name;
      helpers.appendChild(dt);
      helpers.appendChild(el("dd", "", h.doc || "(no description)"));
    }
    $("#tailcall-limit").textContent = String(DATA.max_tail_calls);
    $("#prev").addEventListener("click", () => step(-1));
    $("#next").addEventListener("click", () => step(1));
    $("#first").addEventListener("click", () => go(0));
    $("#last").addEventListener("click", () => { if (run) go(run.n - 1); });
    $("#next-tailcall").addEventListener("click", () => jump(isTail));
    $("#next-call").addEventListener("click", () => jump(isCall));
    $("#next-map").addEventListener("click", () => jump(isMap));
    $("#next-exit").addEventListener("click", () => jump(isExit));
    $("#timeline").addEventListener("input", (ev) => go(ev.target.value));
    $("#kernel-log").addEventListener("toggle", () => { if (run && run.n) renderVerifier(prog(run.steps[k].p), run.steps[k]); });
    document.addEventListener("keydown", (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const keys = { ArrowRight: () => step(1), ArrowLeft: () => step(-1), Home: () => go(0),
        End: () => go(run.n - 1), t: () => jump(isTail), c: () => jump(isCall),
        m: () => jump(isMap), e: () => jump(isExit) };
      const f = keys[ev.key];
      if (!f || !run) return;
      ev.preventDefault();
      f();
    });
    $("#insns").addEventListener("click", (ev) => {
      const op = ev.target.closest(".operand");
      if (op) { ev.preventDefault(); operandClicked(op); return; }
      const a = ev.target.closest("a.helper");
      if (a) {
        for (const dt of document.querySelectorAll("#helpers dt.target")) dt.classList.remove("target");
        const dt = document.getElementById(a.getAttribute("href").slice(1));
        if (dt) dt.classList.add("target");
      }
    });
    $("#regs").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr[data-reg]");
      if (!tr) return;
      markDefs(findDef(k + 1, Number(tr.dataset.reg.slice(1))), tr.dataset.reg);
      tr.classList.add("def");
    });
    $("#stack").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr[data-off]");
      if (!tr) return;
      const depth = run.steps[k].d || 0;
      const addr = (BigInt(1 + depth) << 44n) + BigInt(512 + Number(tr.dataset.off));
      markDefs(findMemDef(k + 1, addr, 8), "fp" + tr.dataset.off);
      tr.classList.add("def");
    });
    $("#cfg").addEventListener("click", (ev) => {
      const g = ev.target.closest("g.block");
      if (!g || !run) return;
      const start = Number(g.dataset.start), p = run.steps[k].p;
      for (let j = k + 1; j < run.n; j++) if (run.steps[j].p === p && run.steps[j].pc === start) { go(j); return; }
      for (let j = k; j >= 0; j--) if (run.steps[j].p === p && run.steps[j].pc === start) { go(j); return; }
    });
    if (runs.length) selectRun(0);
    else $("#insns").textContent = "(no run was recorded)";
  }

  window.explorer = {
    data: DATA,
    ready: false,
    run: (i) => selectRun(i),
    go: (i) => go(i),
    step: (d) => step(d),
    steps: () => (run ? run.n : 0),
    state: () => {
      if (!run || !run.n) return { run: run ? run.index : -1, step: 0, pc: null, program: null, regs: {} };
      const s = run.steps[k];
      const regs = {};
      run.regsAt(k).forEach((v, i) => { regs[REGS[i]] = v.toString(); });
      return { run: run.index, step: k, pc: s.pc, program: prog(s.p).name, regs };
    },
  };
  setup();
  window.explorer.ready = true;
})();
