"""Run one management command in this process; print its wall time and peak memory.

Usage: python -m bench.run_command <command> [args...]  -> one JSON line at the end.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import time

from bench.common import setup_django


def main() -> None:
    setup_django()
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    began = time.perf_counter()
    ok = True
    try:
        call_command(sys.argv[1], *sys.argv[2:], stdout=out, verbosity=0)
    except CommandError as err:
        ok = False
        out.write(str(err))
    elapsed = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"ok": ok, "seconds": elapsed, "peak_kib": usage.ru_maxrss,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime,
                      "output": out.getvalue()[-500:]}), flush=True)


if __name__ == "__main__":
    main()
