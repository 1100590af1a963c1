"""The Co-Intelligence Python sandbox: runs untrusted code in a fresh, locked-down child.

Modules, each with one job:
  config    the function's SANDBOX_* environment, parsed and validated
  policy    the module allow-list, the restricted __import__ and the PEP 578 audit hook
  seccomp   the kernel layer: PR_SET_NO_NEW_PRIVS plus a seccomp-BPF syscall filter
  warmup    imports the allowed modules (and their lazy helpers) once, in the warm parent
  runner    what happens inside the forked child, layer by layer, before and around user code
  executor  the parent side: fork, pipes, output caps, wall-clock limit, reaping
"""
