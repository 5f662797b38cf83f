"""``trace-run -h``: the usage text, kept apart from :mod:`tracer.cli`'s logic."""

from __future__ import annotations

__all__ = ["HELP", "PROG"]

PROG = "trace-run"

HELP = f"""\
Usage: {PROG} [-ACcfhnqrtTvVwxyzZ] [-a COLUMN] [-e EXPR]... [-o FILE] [-s STRSIZE]
                 [-S SORTBY] [-U COLUMNS] [-X FORMAT] [-I N] [-b execve]
                 [--json FILE] [--probe FILE] [--policy PROFILE] ...
                 {{ -p PID | [-E VAR[=VAL]]... [-u USERNAME] CMD [ARGS] }}

Runs CMD (or attaches to PID) and stops it at every syscall of every thread and
child: the syscall's registers go to a BPF probe run by trace-run's eBPF VM, and the
syscall is printed as strace prints it.  The options are strace's; `trace-run -h`
lists what each does here.

General:
  -e EXPR        a qualifying expression: QUALIFIER=[!]all or QUALIFIER=[!]VAL1[,VAL2]...
                 qualifiers: trace, signal, status, quiet, inject, fault, abbrev,
                 verbose, raw, read, write
  -h, --help     print this help and exit
  -V, --version  print the version and exit

Startup:
  -E VAR=VAL, --env=VAR=VAL   put VAR=VAL in the environment of CMD
  -E VAR, --env=VAR           remove VAR from the environment of CMD
  -p PID, --attach=PID        trace the running process PID (all its threads); may
                              be repeated or given as PID,PID...
  -u USERNAME, --user=USERNAME
                              run CMD as USERNAME (uid, gid and groups)

Tracing:
  -b execve, --detach-on=execve
                 detach from a process when it calls execve
  -f, --follow-forks
                 follow forks (always on for CMD; with -p, also follow the children)
  -ff            with -o FILE: one FILE.PID per traced task
  -I N, --interruptible=N
                 1 anywhere, 2 waiting, 3 never, 4 never_tstp: when fatal signals
                 (HUP INT QUIT PIPE TERM) end the trace (default: 3 with -o FILE CMD,
                 2 otherwise)
  --detach-on-exit
                 when a fatal signal ends the trace, detach from the tracees and let
                 them run on (default: the spawned CMD gets the signal)
  --force-detach
                 with --policy: let --detach-on-exit detach (the tracees then run on
                 without the policy)

Filtering:
  --seccomp-bpf  stop only at the syscalls of -e trace= (a seccomp filter; implies -f)
  -e trace=[!][?]{{SYSCALL|%CLASS|/REGEX|all|none}},...
                 trace only these syscalls (classes: %file %desc %network %process
                 %signal %ipc %memory %creds %clock %stat %lstat %fstat %%stat %statfs
                 %fstatfs %%statfs %pure)
  -e signal=SET  print only these signals
  -e status=SET  print only calls that ended so (successful, failed, unfinished,
                 unavailable, detached)
  -z, --successful-only   print only calls that returned without an error
  -Z, --failed-only       print only calls that returned an error

Output format:
  -a COLUMN, --columns=COLUMN
                 the column of the results (default 40)
  -o FILE, --output=FILE
                 write the lines to FILE instead of stderr; '-': stdout; '|CMD' or
                 '!CMD': pipe them into CMD
  -A, --output-append-mode
                 append to the -o FILE
  -e quiet=SET, -q, -qq, -qqq
                 suppress messages (attach, exit, path-resolution, personality,
                 thread-execve, superseded)
  -n, --syscall-number
                 print the syscall number
  -r, --relative-timestamps
                 print the time since the previous line
  -s STRSIZE, --string-limit=STRSIZE
                 print at most STRSIZE bytes of a string (default 32)
  -t, --absolute-timestamps      print the time of day
  -tt            ... with microseconds
  -ttt           ... as seconds since the epoch, with microseconds
  -T, --syscall-times
                 print the time spent in each syscall
  -v, --no-abbrev
                 print structures, arrays and the environment unabbreviated
  -x             print non-ASCII strings in hex; -xx: every string in hex
  -X FORMAT, --const-print-style=FORMAT
                 print named constants as raw, abbrev or verbose
  -y, --decode-fds
                 print the path of each file descriptor; -yy: also socket endpoints
  --json FILE    write one JSON object per syscall and per process event to FILE
                 ('-': stdout)

Statistics:
  -c, --summary-only
                 count time, calls, errors and denials per syscall; print the table
                 at exit instead of the lines
  -C, --summary  the lines and the table
  -S SORTBY, --summary-sort-by=SORTBY
                 sort the table by time, min-time, max-time, avg-time, calls, errors,
                 name or nothing (default time)
  -U COLUMNS, --summary-columns=COLUMNS
                 the table's columns: time-percent, total-time, min-time, max-time,
                 avg-time, calls, errors, name
  -w, --summary-wall-clock
                 the table's time is each call's latency (trace-run always measures
                 that)

Tampering:
  -e inject=SET[:error=ERRNO|:retval=VALUE][:signal=SIG][:when=WHEN]
                 make the syscalls in SET fail or return VALUE, or send SIG, from a
                 BPF program (when: FIRST[..LAST][+[STEP]])
  -e fault=SET[:error=ERRNO][:when=WHEN]
                 the same, failing with ENOSYS by default

Probes (trace-run's own):
  --probe FILE   run this probe object (.o, or .c / .s built on the fly) instead of
                 the bundled one
  --printk FILE  write the programs' bpf_trace_printk lines and ring-buffer records to
                 FILE ('-': stdout)
  --dump-maps    print the probe's maps at exit
  --set NAME=VALUE
                 set the probe's global variable NAME (.rodata, .data, .bss) before
                 load, as a libbpf skeleton does (repeatable)
  --record-type MAP=TYPE
                 decode MAP's ring-buffer or perf records as TYPE (default: the
                 program's only struct of the record's size; else hex)
  --records FILE write the probe's ring-buffer and perf records to FILE ('-': stdout)
                 as JSON Lines, decoded through BTF ({{"map": M, "record": {{...}}}})
  --no-verify    run the programs (probe, policy, injections) without the verifier,
                 on the VM's run-time checks alone
  --verifier-log a program the verifier refuses: print its whole log, not the end
  --explain PAGE.html
                 record the probe's runs step by step and write the explorer page
                 (one HTML file: source, instructions, state, tail calls, CFG)
  --explain-syscalls SET
                 with --explain: the syscalls to record (as -e trace=SET)
  --explain-limit N
                 with --explain: record the first N of them (default 200)

Policy experiments (trace-run's own):
  --policy PROFILE      enforce a seccomp profile (OCI or Docker JSON), compiled to BPF
  --audit               with --policy: enforce nothing, report what would be denied
  --report FILE         with --policy: also write the report to FILE (.json: as JSON)
  --strict              with --policy: unknown syscall names are errors
  --cap CAP_NAME        a capability Docker's includes/excludes are matched against
                        (repeatable; default: Docker's 14; 'none': no capability)
  --print-programs      with --policy or -e inject=, no CMD: print the programs
  --record-profile OUT  write a profile allowing exactly what CMD did ('-': stdout)
  --merge BASE          with --record-profile: add to the profile BASE
  --sweep               deny each syscall CMD makes in turn and tabulate the outcomes
  --sweep-errno ERRNO   the errno of a denied syscall in a sweep (default EPERM)
  --sweep-timeout SECONDS  the time limit of each sweep run (default 60)
  --sweep-jobs N        sweep runs in parallel (default: the CPU count)
  --force               with --sweep: write a profile that failed its verification
  --compare             with --policy: run CMD emulated and under the kernel's seccomp
"""
