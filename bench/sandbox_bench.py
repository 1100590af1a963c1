"""Measurements behind `npm run bench:sandbox` (bench/sandbox.ts prints them).

Prints one JSON object: per-call wall times in ms for the handler, exec in a warm process, a
fresh interpreter and a bare fork, for print(1) and for a CPU-heavy snippet, and the handler's
cold start (import, zygote start, first child ready) in fresh processes.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import time

LAMBDA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lambda")
sys.path.insert(0, LAMBDA_DIR)

PRINT_ONE = "print(1)"
CPU_HEAVY = "total = 0\nfor i in range(3_000_000):\n    total += i * i % 7\nprint(total)"
COLD_START = (
    "import sys, time, io, contextlib\n"
    f"sys.path.insert(0, {LAMBDA_DIR!r})\n"
    "started = time.perf_counter()\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    import handler\n"
    "print((time.perf_counter() - started) * 1000)\n"
)


def timed(fn, runs, gap_s=0.0):
    samples = []
    for _ in range(runs):
        if gap_s:
            time.sleep(gap_s)  # idle time between requests, not measured
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def interleaved(handler_run, exec_run, runs):
    handler_times, exec_times = [], []
    for _ in range(runs):
        handler_times += timed(handler_run, 1)
        exec_times += timed(exec_run, 1)
    return {"handlerHeavy": handler_times, "execHeavy": exec_times}


def bare_fork():
    """The floor: fork, the child exits at once, the parent reaps it."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    heavy_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
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
        bare_fork()
        subprocess.run(fresh_cmd, stdout=subprocess.DEVNULL, check=True)
    cold = [
        float(
            subprocess.run(
                [sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(max(5, runs // 40))
    ]
    result = {
        "python": sys.version.split()[0],
        "runs": runs,
        # Requests 20 ms apart (a chat turn is seconds apart): the next child is prepared
        # in the idle time, as in a warm Lambda between invocations.
        "handlerPrint": timed(lambda: via_handler(PRINT_ONE), runs, 0.02),
        "execPrint": timed(lambda: via_exec(PRINT_ONE), runs, 0.02),
        # Back to back: each request may also wait for its child's set-up.
        "handlerPrintBackToBack": timed(lambda: via_handler(PRINT_ONE), runs),
        "bareFork": timed(bare_fork, runs, 0.02),
        "freshPrint": timed(
            lambda: subprocess.run(fresh_cmd, stdout=subprocess.DEVNULL, check=True), max(20, runs // 5)
        ),
        # Interleaved, so both see the same machine: this host's noise is larger than the effect.
        **interleaved(lambda: via_handler(CPU_HEAVY), lambda: via_exec(CPU_HEAVY), heavy_runs),
        "coldStart": cold,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
