"""One warm "execution environment" of the local Lambda runtime (dev/local-lambda/server.ts).

Imports the handler once, like Lambda's Python runtime, then serves one invocation at a
time. The protocol runs over two private descriptors (3: requests in, 4: responses out),
one JSON object per line, so the handler's stdout/stderr stay what they are in Lambda: the
function's log stream. Local only; not part of the deployed package.
"""

import json
import os
import signal
import sys
import time
import traceback

REQUEST_FD = 3
RESPONSE_FD = 4
LAMBDA_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lambda"
)


class LocalContext:
    """The subset of the Lambda context object the handler uses."""

    def __init__(self, request_id, deadline_ms, function_name):
        self.aws_request_id = request_id
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _send(channel, message):
    channel.write(json.dumps(message, separators=(",", ":")) + "\n")
    channel.flush()


def _function_error(exc, prefix=""):
    return {
        "errorType": prefix + type(exc).__name__ if not prefix else prefix,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__),
    }


def _tie_to_runtime():
    """Die with the local runtime (even a SIGKILLed one): its zygote and children follow."""
    try:
        from sandbox import native

        native.load().set_parent_death_signal(signal.SIGKILL)
    except Exception:
        pass  # the handler reports a missing helper itself, on every call


def main():
    # Ctrl-C belongs to the local runtime, which stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = os.fdopen(REQUEST_FD, "r", encoding="utf-8")
    responses = os.fdopen(RESPONSE_FD, "w", encoding="utf-8")
    sys.path.insert(0, LAMBDA_DIR)
    _tie_to_runtime()
    init_error = None
    handler = None
    try:
        from handler import handler  # noqa: E402  (imported once, like Lambda's runtime)
    except Exception as exc:
        init_error = _function_error(exc, "Runtime.ImportModuleError")
        sys.stderr.write("".join(init_error["stackTrace"]))
    _send(responses, {"ready": True, "pid": os.getpid()})
    for line in requests:
        request = json.loads(line)
        # Acknowledged: from now on a crash of this worker is this invocation's, not a lost one.
        _send(responses, {"started": request["id"]})
        reply = {"id": request["id"]}
        if init_error is not None:
            reply.update(ok=False, **init_error)
        else:
            context = LocalContext(request["requestId"], request["deadlineMs"], request["functionName"])
            try:
                payload = handler(request["event"], context)
                text = json.dumps(payload, ensure_ascii=False)
                # As AWS Lambda's Python runtime does: a response that is not valid UTF-8 makes
                # the runtime process exit (Runtime.ExitError), so it does here too.
                text.encode("utf-8")
                reply.update(ok=True, payload=text)
            except UnicodeEncodeError:
                sys.stderr.write("the response is not valid UTF-8: the Lambda runtime would exit here\n")
                sys.stderr.flush()
                os._exit(1)
            except Exception as exc:
                reply.update(ok=False, **_function_error(exc))
                sys.stderr.write("".join(reply["stackTrace"]))
        sys.stdout.flush()
        sys.stderr.flush()
        _send(responses, reply)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        os._exit(0)  # the local runtime is gone or stopping: nothing to report
