/**
 * The signal that ends a request's work: aborted when its client goes away (reason
 * ClientDisconnected) or when shutdown stops the work in flight (`WorkInFlight.stop`). Each
 * request's controller is registered in a plain set that shutdown walks, rather than
 * listening on a shared AbortSignal: Node's EventTarget listeners and AbortSignal.any cost
 * several percent of a request's CPU, and nothing stays attached to anything long-lived.
 */
import type { ServerResponse } from "node:http";

export const CLIENT_DISCONNECTED = {
  type: "ClientDisconnected",
  message: "The client closed the connection.",
};

/** The replica's cancellable work: shutdown stops all of it at once. */
export class WorkInFlight {
  private readonly controllers = new Set<AbortController>();
  private stopped: unknown;

  /** Aborts everything registered, and from now on everything registered later, with `reason`. */
  stop(reason: unknown): void {
    this.stopped = reason;
    for (const controller of this.controllers) controller.abort(reason);
  }

  get size(): number {
    return this.controllers.size;
  }

  register(controller: AbortController): () => void {
    if (this.stopped !== undefined) controller.abort(this.stopped);
    this.controllers.add(controller);
    return () => this.controllers.delete(controller);
  }
}

export interface Cancellation {
  signal: AbortSignal;
  /** Whether the client went away before its response was finished. */
  readonly clientLeft: boolean;
  /** Detaches it (call when the work is over). */
  done(): void;
}

export function requestCancellation(res: ServerResponse, work: WorkInFlight): Cancellation {
  const controller = new AbortController();
  let clientLeft = false;
  const onClose = () => {
    if (res.writableFinished) return;
    clientLeft = true;
    controller.abort(CLIENT_DISCONNECTED);
  };
  res.once("close", onClose);
  const unregister = work.register(controller);
  return {
    signal: controller.signal,
    get clientLeft() {
      return clientLeft;
    },
    done() {
      res.off("close", onClose);
      unregister();
    },
  };
}
