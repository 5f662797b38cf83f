"""The execution engines: a program's instructions become generated Python code.

* :mod:`.cfg`: the basic blocks of a program (where they start, how long they are);
* :mod:`.codegen`: the per-opcode templates, rendered into Python statements;
* :mod:`.runtime`: what the generated statements call at run time;
* :mod:`.facts`: the verifier's facts of a verified program, which let the translating
  engine drop the checks of the loads and stores they prove safe;
* :mod:`.block`: the block engine's code (one function per basic block, and one per
  instruction for stepping);
* :mod:`.translate`: the translating engine's code (one function per program);
* :mod:`.compiled`: a program bound to one VM, with each engine's code made on first use;
* :mod:`.loops`: the run loops that call that code (translate, block, traced);
* :mod:`.control`: the control-flow exceptions, call frames and what the generated code
  needs of the run (:class:`~.control.EngineState`).
"""
