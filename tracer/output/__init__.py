"""The tracer's outputs: strace-like lines, JSON Lines, and the ``-c`` summary table.

* :mod:`tracer.output.records`: what the writers are given (:class:`SyscallRecord`, the
  process events of :mod:`tracer.events`) and the :class:`Writer` protocol.
* :mod:`tracer.output.sink`: whole, interrupt-safe writes to a file descriptor, text held
  between flushes, and :class:`Fanout` (several writers at once).
* :mod:`tracer.output.strace`: :class:`StraceWriter`, strace's text.
* :mod:`tracer.output.jsonl`: :class:`JsonWriter`, JSON Lines.
* :mod:`tracer.output.summary`: :class:`Summary`, the ``-c`` table.

Every writer takes plain data and has the same four methods, so the loop fans each event
out to whichever writers the user asked for (:class:`Fanout`)::

    call = format_entry(abi, nr, args, read_memory)            # tracer.format
    rec = SyscallRecord.at_entry(call, ts=time.time(), pid=tgid, tid=tid, action=Action.ALLOW)
    out.syscall_entry(rec)            # strace text prints "openat(AT_FDCWD, ..." now
    ...                               # exit stop
    out.syscall_exit(rec.at_exit(call, ret, read_memory, duration=t_exit - t_entry))
    out.process_event(Exited(pid, tid, ts, 0))
    out.close()                       # the summary is printed here

* A call that never reaches its exit stop (exit_group, execve in another thread, a
  killed tracee) still gets ``syscall_exit`` with ``ret=None``: strace prints ``= ?``.
* ``syscall_entry`` is optional; a record given only to ``syscall_exit`` prints whole.
* Send a :class:`tracer.events.Fork` for every new thread or process so that the
  ``[pid N]`` prefix appears exactly when strace's would (when more than one task is
  traced).

In trace-run, :class:`tracer.record.OutputRecorder` drives the writers, and does so after
the loop resumed the tracee: at the stops it only reads the memory the text will show
(:func:`tracer.format.fetch_entry`), and the text, the records and every writer's work
happen at its ``flush()``.  The one exception is an entry for a writer that is not
``entries_may_wait`` (see :class:`Writer`), rendered and written at its entry stop.

Writes are whole: each line (or the entry part of an unfinished one) goes to the file
descriptor in one ``write(2)`` with SIGINT/SIGTERM/SIGHUP/SIGQUIT blocked, so none of
those signals, nor a KeyboardInterrupt, can cut a line, and a JSON file is valid line by
line whenever trace-run stops on one. SIGKILL cannot be blocked: the kernel may end a
large ``write(2)`` to a regular file at a page boundary, so after a SIGKILL the last
line may be cut there (every line before it is whole). Text is held in memory only
between flushes: a writer that was told to ``hold()`` (trace-run's are, by the recorder)
keeps what one loop turn produced in a list of strings, and the recorder's ``flush()``
after each stop writes it, one write(2) per file; a file of trace-run's own (``-o
FILE``) also keeps the beginning of a line whose call still runs until the line is
complete or the loop is about to wait (``flush(final=True)``). A writer not holding
writes each piece of text at once. No Python ``io`` buffer is used: the text goes to the
descriptor with ``os.write``.
"""
