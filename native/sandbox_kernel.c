/*
 * _sandbox_kernel: the few prctl(2) calls the sandbox needs, as a CPython extension.
 *
 * Why native code: installing a seccomp filter needs prctl(2), which the standard library does
 * not expose. The alternative, ctypes, leaves a memory read/write primitive (its C types)
 * reachable from user code by a __subclasses__() walk for the life of the process, because a
 * loaded extension's types are never freed. This module exposes nothing but these four calls:
 * no addresses in, no memory out. User code that reached it could only restrict its own process
 * further (another filter, no-new-privs), never widen anything.
 *
 * Built against the stable ABI (Py_LIMITED_API 3.11), so one file per CPU architecture serves
 * CPython 3.11, 3.12 and 3.13. Only prctl(2) is taken from libc. native/build.sh builds
 * it reproducibly; the built files are committed under lambda/sandbox/native/<arch>/ and a test
 * rebuilds them and compares the bytes.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

/* install_filter(program: bytes) -> None
 * PR_SET_NO_NEW_PRIVS, then PR_SET_SECCOMP with the classic-BPF program (8-byte instructions,
 * already packed by sandbox/kernel_filter.py). Applies to the calling thread and everything it
 * forks; it can never be removed. */
static PyObject *install_filter(PyObject *self, PyObject *args) {
  const char *program;
  Py_ssize_t size;
  if (!PyArg_ParseTuple(args, "y#:install_filter", &program, &size)) return NULL;
  if (size <= 0 || size % (Py_ssize_t)sizeof(struct sock_filter) != 0 ||
      size / (Py_ssize_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
    PyErr_SetString(PyExc_ValueError, "program must be 1 to 4096 packed sock_filter instructions");
    return NULL;
  }
  struct sock_fprog fprog = {
      .len = (unsigned short)(size / (Py_ssize_t)sizeof(struct sock_filter)),
      .filter = (struct sock_filter *)program,
  };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return PyErr_SetFromErrno(PyExc_OSError);
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

/* set_dumpable(flag: int) -> None
 * 0 makes /proc/<pid>/{environ,mem,...} and ptrace of this process root-only. */
static PyObject *set_dumpable(PyObject *self, PyObject *args) {
  int flag;
  if (!PyArg_ParseTuple(args, "i:set_dumpable", &flag)) return NULL;
  if (prctl(PR_SET_DUMPABLE, flag ? 1 : 0, 0, 0, 0) != 0) return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

/* set_parent_death_signal(signal: int) -> None
 * The kernel sends `signal` to this process when the thread that created it exits, so a child
 * never outlives its zygote and a zygote never outlives the handler process. Cleared by a
 * credential change: set it after dropping privileges. */
static PyObject *set_parent_death_signal(PyObject *self, PyObject *args) {
  int sig;
  if (!PyArg_ParseTuple(args, "i:set_parent_death_signal", &sig)) return NULL;
  if (prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0) return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

/* seccomp_mode() -> int: 0 none, 1 strict, 2 filter (PR_GET_SECCOMP). */
static PyObject *seccomp_mode(PyObject *self, PyObject *unused) {
  int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  if (mode < 0) return PyErr_SetFromErrno(PyExc_OSError);
  return PyLong_FromLong(mode);
}

static PyMethodDef methods[] = {
    {"install_filter", install_filter, METH_VARARGS, "Set no-new-privs and install a seccomp-BPF filter."},
    {"set_dumpable", set_dumpable, METH_VARARGS, "prctl(PR_SET_DUMPABLE, flag)."},
    {"set_parent_death_signal", set_parent_death_signal, METH_VARARGS, "prctl(PR_SET_PDEATHSIG, signal)."},
    {"seccomp_mode", seccomp_mode, METH_NOARGS, "prctl(PR_GET_SECCOMP)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_sandbox_kernel",
    .m_doc = "prctl calls for the code sandbox (no memory access).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__sandbox_kernel(void) { return PyModuleDef_Init(&module); }
