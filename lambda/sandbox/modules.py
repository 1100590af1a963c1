"""Which modules user code may import: the default allow-list and the vetted list it comes from.

The allow-list is configuration (SANDBOX_ALLOWED_MODULES, the stack's `allowedModules`), but
only modules on VETTED_MODULES may be in it. A module is vetted when all of these hold:

- it computes on values and offers no file, network, process, environment or interpreter
  access of its own (what it imports internally is reachable too, and is held by the audit
  hook and, under assume-breach, by the kernel filter alone);
- it needs no file once imported: the zygote imports it (and its lazy helpers, warmup.py)
  before any child exists, and a child can open no file at all;
- it hands out no raw memory access (no addresses in, no memory out).

Everything else is refused as a configuration error, so a typo or a dangerous wish fails the
deploy instead of silently widening the sandbox. contract/ keeps the TypeScript copy that the
Pulumi program and `doctor` check against; tests compare the two.
"""

from __future__ import annotations

from typing import Dict, Tuple

DEFAULT_ALLOWED_MODULES: Tuple[str, ...] = (
    "math",
    "json",
    "datetime",
    "random",
    "statistics",
    "re",
    "collections",
    "itertools",
    "string",
    "decimal",
    "fractions",
    "uuid",
    "hashlib",
    "base64",
    "textwrap",
)

# name -> why it is safe to allow. Sorted by name.
VETTED_MODULES: Dict[str, str] = {
    "base64": "encodes bytes to text and back",
    "binascii": "C codecs between bytes and ASCII (hex, base64, crc32)",
    "bisect": "binary search on lists the code owns",
    "calendar": "calendar arithmetic and text calendars from values",
    "cmath": "complex-number math functions",
    "collections": "container types (Counter, deque, namedtuple, OrderedDict)",
    "colorsys": "colour-space conversions of numbers",
    "copy": "shallow and deep copies of the code's own objects",
    "csv": "parses and writes CSV through objects the code passes in; opens nothing itself",
    "datetime": "date and time values; the time zone is the zygote's, read before any child runs",
    "decimal": "decimal floating-point arithmetic",
    "difflib": "differences between sequences the code owns",
    "fractions": "rational-number arithmetic",
    "functools": "higher-order functions and caches over the code's own callables",
    "graphlib": "topological sorting of a graph the code builds",
    "hashlib": "hash functions over bytes (the algorithms are loaded by the zygote)",
    "heapq": "heap operations on lists the code owns",
    "hmac": "keyed hashes over bytes",
    "html": "escapes and unescapes HTML entities in strings",
    "itertools": "iterator building blocks",
    "json": "JSON text to values and back (load/dump need a file object the code cannot open)",
    "math": "floating-point and integer math functions",
    "operator": "the operators as functions",
    "pprint": "pretty-printing of values to text",
    "random": "pseudo-random numbers, reseeded from the kernel in each child",
    "re": "regular expressions (CPU and memory are bounded by the child's limits)",
    "reprlib": "size-limited repr() of values",
    "secrets": "random tokens from the kernel's random source (getrandom)",
    "statistics": "descriptive statistics and the normal distribution",
    "string": "string constants, Template and Formatter",
    "struct": "packs values into bytes and back, within Python objects",
    "textwrap": "wraps and indents text",
    "time": "clocks and sleep (bounded by the wall-clock limit); no process or file access",
    "unicodedata": "the Unicode character database, compiled into the module",
    "uuid": "UUID values (the node id is computed by the zygote; no process is started)",
    "zlib": "compression of bytes (memory is bounded by the child's limits)",
}

# Harmless modules that allowed modules import from C or lazily at call time (datetime.strftime
# imports time, strptime imports _strptime...). C code imports through the running frame's
# __import__, the restricted one, so they must pass it; the zygote imports all of them, so a
# child never needs a file to load one.
INTERNAL_HELPER_MODULES = frozenset(
    {
        "time",
        "_strptime",
        "calendar",
        "locale",
        "heapq",
        "bisect",
        "operator",
        "functools",
        "numbers",
        "unicodedata",
        "copy",
        "copyreg",
        "_datetime",
        "_decimal",
        "_pydecimal",
        "_json",
        "_random",
        "_heapq",
        "_bisect",
        "_operator",
        "_functools",
        "_string",
        "binascii",
        "_sha2",
        "_sha256",
        "_sha512",
        "_md5",
        "_sha1",
        "_sha3",
        "_blake2",
        "_hashlib",
        "_uuid",
        "_statistics",
        "_collections",
        "_collections_abc",
        "_locale",
        "encodings",
        "codecs",
        "_struct",
        "_csv",
    }
)


def unvetted(names: Tuple[str, ...]) -> Tuple[str, ...]:
    """The names that are not on the vetted list, in the order given."""
    return tuple(name for name in names if name not in VETTED_MODULES)
