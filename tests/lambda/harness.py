"""Test harness: import the handler once (a warm environment) and run a batch of events.

Usage: python harness.py EVENTS_JSON_FILE RESULTS_JSON_FILE [ZYGOTE_PRELUDE_FILE]

Each result is {"response": ...} or {"functionError": {"type", "message"}}, plus:
- "marshalError" when the response does not survive AWS Lambda's Python runtime marshalling
  (json with ensure_ascii=False, then UTF-8), which kills the real runtime process, or is
  longer than Lambda's response limit once marshalled (a function error);
- "after": the warm process's state after the call (builtins, modules, working directory,
  environment, and the scheduling, limits and liveness of the handler's process and of the
  zygote), so tests can check that nothing an invocation did survived it or reached them.

In event code, HANDLER_PID and ZYGOTE_PID are replaced by those pids before the call.
ZYGOTE_PRELUDE_FILE is Python the zygote runs first (tests/lambda/breach_prelude.py).
"""

import builtins
import ctypes
import json
import os
import resource
import sys

LAMBDA_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lambda"))
sys.path.insert(0, LAMBDA_DIR)

# A synchronous invocation's response may be at most this long, as serialised; more is a
# function error (Function.ResponseSizeTooLarge).
LAMBDA_MAX_RESPONSE_BYTES = 6291556
IOPRIO_GET_NR = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)


def _ioprio(pid):
    if IOPRIO_GET_NR is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(IOPRIO_GET_NR, 1, pid)  # IOPRIO_WHO_PROCESS


def process_state(pid):
    """What a child must not be able to change about another process."""
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return {"alive": False}
    with open(f"/proc/{pid}/stat", "rb") as f:
        state = f.read().rsplit(b")", 1)[1].split()[0].decode()  # R, S, D... T when stopped
    limits = {}
    for name in ("RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_FSIZE"):
        limits[name] = list(resource.prlimit(pid, getattr(resource, name)))
    return {
        "alive": True,
        "stopped": state in ("T", "t"),
        "nice": os.getpriority(os.PRIO_PROCESS, pid),
        "scheduler": os.sched_getscheduler(pid),
        "affinity": sorted(os.sched_getaffinity(pid)),
        "ioprio": _ioprio(pid),
        "limits": limits,
    }


def fingerprint(handler):
    zygote = handler._ZYGOTE
    zygote_pid = zygote.process.pid if zygote is not None and zygote.process is not None else None
    return {
        "builtins": sorted(k for k in vars(builtins)),
        "printIsBuiltin": builtins.print.__module__ == "builtins",
        "modules": len(sys.modules),
        "cwd": os.getcwd(),
        "environHasCanary": "AWS_SECRET_ACCESS_KEY" in os.environ,
        "handlerProcess": process_state(os.getpid()),
        "zygoteProcess": process_state(zygote_pid),
        "zygoteRestarted": zygote_pid != fingerprint.first_zygote_pid
        if hasattr(fingerprint, "first_zygote_pid")
        else False,
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        events = json.load(f)
    if len(sys.argv) > 3:
        from sandbox import zygote_client

        with open(sys.argv[3], encoding="utf-8") as f:
            zygote_client.ZYGOTE_PRELUDE = f.read()
    results = []
    try:
        import handler
    except Exception as exc:  # configuration errors are raised per call, so this is a real bug
        results = [{"importError": f"{type(exc).__name__}: {exc}"}]
        events = []
    else:
        if handler._ZYGOTE is not None:
            fingerprint.first_zygote_pid = handler._ZYGOTE.process.pid
    for item in events:
        context = None
        if isinstance(item, dict) and "__context__" in item:
            spec = item.pop("__context__")

            class Ctx:
                aws_request_id = spec.get("requestId", "test-request")

                def get_remaining_time_in_millis(self):
                    return spec.get("remainingMs", 60000)

            context = Ctx()
        event = item.get("event") if isinstance(item, dict) and "event" in item else item
        if isinstance(event, dict) and isinstance(event.get("code"), str):
            zygote = handler._ZYGOTE
            event = dict(event)
            event["code"] = event["code"].replace("HANDLER_PID", str(os.getpid()))
            if zygote is not None and zygote.process is not None:
                event["code"] = event["code"].replace("ZYGOTE_PID", str(zygote.process.pid))
        entry = {}
        try:
            response = handler.handler(event, context)
            entry["response"] = response
            try:
                size = len(json.dumps(response, ensure_ascii=False).encode("utf-8"))
                if size > LAMBDA_MAX_RESPONSE_BYTES:
                    raise ValueError(
                        f"{size} bytes, over Lambda's {LAMBDA_MAX_RESPONSE_BYTES}-byte response limit"
                    )
            except Exception as exc:
                entry["marshalError"] = f"{type(exc).__name__}: {exc}"
                entry["response"] = json.loads(json.dumps(response))
        except Exception as exc:
            entry["functionError"] = {"type": type(exc).__name__, "message": str(exc)}
        entry["after"] = fingerprint(handler)
        results.append(entry)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
