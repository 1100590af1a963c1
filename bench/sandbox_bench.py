"""Measurements behind `npm run bench:sandbox` (bench/sandbox.ts prints them).

Prints one JSON object: per-call wall times in ms for the handler, a fresh interpreter and
exec in a warm process, for print(1) and for a CPU-heavy snippet.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lambda"))

PRINT_ONE = "print(1)"
CPU_HEAVY = "total = 0\nfor i in range(3_000_000):\n    total += i * i % 7\nprint(total)"


def timed(fn, runs, gap_s=0.0):
    samples = []
    for _ in range(runs):
        if gap_s:
            time.sleep(gap_s)  # idle time between requests, not measured
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    heavy_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with contextlib.redirect_stdout(io.StringIO()):
        import handler  # the warm parent, as in a warm Lambda environment

    def via_handler(code):
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's JSON log line
            response = handler.handler({"code": code}, None)
        assert response["ok"], response
        return response

    def via_exec(code):
        compiled = compile(code, "<bench>", "exec")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compiled, {"__name__": "__main__"})

    fresh_cmd = [sys.executable, "-I", "-S", "-c", PRINT_ONE]
    for _ in range(5):  # warm caches
        via_handler(PRINT_ONE)
        via_exec(PRINT_ONE)
        subprocess.run(fresh_cmd, stdout=subprocess.DEVNULL, check=True)
    result = {
        "python": sys.version.split()[0],
        "runs": runs,
        # Requests 20 ms apart (a chat turn is seconds apart): the next child is prepared
        # in the idle time, as in a warm Lambda between invocations.
        "handlerPrint": timed(lambda: via_handler(PRINT_ONE), runs, 0.02),
        "execPrint": timed(lambda: via_exec(PRINT_ONE), runs, 0.02),
        # Back to back: each request also waits for its child's set-up.
        "handlerPrintBackToBack": timed(lambda: via_handler(PRINT_ONE), runs),
        "freshPrint": timed(lambda: subprocess.run(fresh_cmd, stdout=subprocess.DEVNULL, check=True), max(20, runs // 5)),
        "handlerHeavy": timed(lambda: via_handler(CPU_HEAVY), heavy_runs),
        "execHeavy": timed(lambda: via_exec(CPU_HEAVY), heavy_runs),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
