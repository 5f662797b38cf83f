"""``python -m tests.tracer.cli_runner ARGS``: the trace-run CLI, as the console script
will run it (the integrator registers ``trace-run = tracer.cli:main``)."""

from tracer.cli import main

if __name__ == "__main__":
    main()
