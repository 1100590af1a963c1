"""Test harness: import the handler once (a warm environment) and run a batch of events.

Usage: python harness.py EVENTS_JSON_FILE RESULTS_JSON_FILE
Each result is {"response": ...} or {"functionError": {"type", "message"}}, plus the
handler's module state fingerprint after the call (builtins and loaded modules), so tests
can check that nothing an invocation did survived it.
"""

import builtins
import json
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lambda")))


def fingerprint():
    return {
        "builtins": sorted(k for k in vars(builtins)),
        "printIsBuiltin": builtins.print.__module__ == "builtins",
        "modules": len(sys.modules),
        "cwd": os.getcwd(),
        "environHasCanary": "AWS_SECRET_ACCESS_KEY" in os.environ,
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        events = json.load(f)
    results = []
    try:
        import handler
    except Exception as exc:  # configuration errors are raised per call, so this is a real bug
        results = [{"importError": f"{type(exc).__name__}: {exc}"}]
        events = []
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
        try:
            response = handler.handler(event, context)
            json.dumps(response)
            results.append({"response": response, "after": fingerprint()})
        except Exception as exc:
            results.append({"functionError": {"type": type(exc).__name__, "message": str(exc)}, "after": fingerprint()})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
