"""Which system calls the sandbox's children make after the kernel filter goes in.

The allow-list in lambda/sandbox/kernel_filter.py is derived from this measurement: the corpus
below (the contract's examples, every vetted module, errors, tracebacks, warnings, limits,
refused operations) runs through the real handler with a filter whose default is "allow",
under strace; every syscall a child makes after installing its filter is counted.

    python3 tests/lambda/measure_syscalls.py            # a table: count, name, first example
    python3 tests/lambda/measure_syscalls.py --json     # {"arch": ..., "syscalls": {name: count}}

Needs strace (Debian: apt-get install strace). tests/lambda/kernel-filter.test.ts runs it and
checks that every syscall measured is on the allow-list.
"""

import collections
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LAMBDA_DIR = os.path.join(HERE, "..", "..", "lambda")
# Made by the corpus but refused on purpose (not on the allow-list), and why that is fine.
REFUSED_ON_PURPOSE = {
    "socket": "uuid1(): libuuid asks the uuidd daemon first, then generates the UUID itself",
    "connect": "uuid1(): the same request to uuidd",
    "newfstatat": "the corpus's stat('/etc/passwd') through random._os, an attempt that must fail",
}
ALLOW_EVERYTHING = (
    "import sandbox.zygote as _z, sandbox.kernel_filter as _k\n"
    "_z.FILTER_DEFAULT_ACTION = _k.SECCOMP_RET_ALLOW\n"
)

CORPUS = [
    "print(25 * 47)",
    "15 / 100 * 2847",
    "import math\nmath.sqrt(144)",
    (
        "primes = []\n"
        "n = 2\n"
        "while len(primes) < 100:\n"
        "    if all(n % p for p in primes if p * p <= n):\n"
        "        primes.append(n)\n"
        "    n += 1\n"
        "print(sum(primes))"
    ),
    "a, b = 0, 1\nfib = []\nfor _ in range(3000):\n    fib.append(a)\n    a, b = b, a + b\nprint(fib[-1])",
    "print('x' * 200000)",
    "import sys",
    "import os",
    "open('/etc/passwd')",
    "1/0",
    "raise ValueError('\\ud800')",
    "def f(): f()\nf()",
    "x = [1] * 10**9",
    "x = bytearray(10**8)\nprint(len(x))",
    "while True: pass",
    (
        "import time\n"
        "time.sleep(0.05)\n"
        "print(time.time(), time.monotonic(), time.process_time(), time.perf_counter())"
    ),
    "import warnings\nwarnings.warn('careful')",
    "e = ValueError('a')\ne.add_note('note')\nraise e",
    "raise ExceptionGroup('g', [ValueError(1), TypeError(2)])",
    "class Timeout(Exception): pass\nraise Timeout('x')",
    "print('\\u2028x')\n\f\nraise KeyError('k')",
    "s = '\u00e9' * 100000\nprint(s)",
    "'\ud83d\ude00' * 35000",
    "input()",
    "print(__import__('sys'))",
    "import random\nprint(random.random(), random.SystemRandom().random())",
    "exit(3)",
    "raise SystemExit(0)",
    "import json\nprint(json.dumps({'a': [1, 2.5, None]}))",
    "help()",
    "import collections\nprint(collections.Counter('abracadabra').most_common(2))",
    (
        "import datetime\n"
        "print(datetime.datetime.now().astimezone().isoformat(), "
        "datetime.datetime.strptime('2024-03-01', '%Y-%m-%d').strftime('%A %c %Z'))"
    ),
    "import decimal\ndecimal.getcontext().prec = 50\nprint(decimal.Decimal(1) / decimal.Decimal(7))",
    (
        "import statistics\n"
        "print(statistics.NormalDist(0, 1).cdf(1), statistics.stdev([1, 2, 3]), "
        "statistics.correlation([1,2,3],[3,2,1]))"
    ),
    "import re\nprint(re.findall(r'\\d+', 'a1b22'), re.compile('(?i)x+').sub('y', 'XXx'))",
    "import uuid\nprint(uuid.uuid4(), uuid.uuid1(), uuid.uuid5(uuid.NAMESPACE_DNS, 'a'))",
    (
        "import hashlib\n"
        "print(hashlib.sha256(b'x').hexdigest(), hashlib.md5(b'x').hexdigest(), "
        "hashlib.sha3_512(b'x').hexdigest(), hashlib.blake2s(b'x').hexdigest(), "
        "hashlib.pbkdf2_hmac('sha256', b'p', b's', 1000).hex(), hashlib.scrypt(b'p', salt=b's', n=16, "
        "r=8, p=1).hex(), hashlib.new('sha512_256', "
        "b'x').hexdigest() if 'sha512_256' in hashlib.algorithms_available else 0)"
    ),
    (
        "import base64, textwrap, string, fractions, itertools\n"
        "print(base64.b64encode(b'x'), textwrap.fill('a b c', 2), string.Template('$a').substitute(a=1), "
        "fractions.Fraction(3, 9), list(itertools.permutations([1,2])))"
    ),
    "import calendar\nprint(calendar.month(2024, 2), calendar.TextCalendar().formatyear(2024)[:50])",
    "import csv\nprint(list(csv.reader(['a,b'])))",
    "import difflib\nprint(list(difflib.unified_diff(['a'], ['b'])))",
    "import pprint\npprint.pprint({'a': list(range(50))})",
    "import html, html.parser\nprint(html.escape('<'))",
    "import secrets\nprint(secrets.token_hex(16))",
    "import hmac\nprint(hmac.new(b'k', b'm', 'sha256').hexdigest())",
    (
        "import struct, zlib, binascii\n"
        "print(struct.pack('<I', 1), zlib.compress(b'x' * 1000), binascii.hexlify(b'x'))"
    ),
    "import unicodedata\nprint(unicodedata.name('\u00e9'))",
    (
        "import graphlib, copy, reprlib, colorsys, cmath, functools, operator, heapq, bisect\n"
        "print(cmath.sqrt(-1), heapq.nlargest(2, [1,3,2]), functools.reduce(operator.add, [1,2]))"
    ),
    "import json\njson.loads('[' * 100000 + ']' * 100000)",
    "print(eval('1+1'), exec('x=1'))",
    "import threading",
    "import random\nr = random._os\nprint(r.getpid())",
    "import random\nrandom._os.listdir('/')",
    "import random\nrandom._os.stat('/etc/passwd')",
    "import collections\nprint(collections.namedtuple('P', 'x y')(1, 2))",
    "x = 10**100000\nprint(len(str(x)) if False else 1)",
    "import math\nprint([math.factorial(i) for i in range(200)][-1] % 1000)",
    "import string\nprint(string.Formatter().format('{0:>10}', 'x'))",
    "print(sorted(set(range(100000)))[-1])",
    "import datetime\nprint(datetime.datetime.fromtimestamp(0))",
    (
        "import time\n"
        "print(time.localtime(), time.strftime('%Y-%m-%d %H:%M:%S'), time.ctime(), "
        "time.get_clock_info('monotonic'))"
    ),
    (
        "import decimal\n"
        "print(decimal.Decimal('1.1').quantize(decimal.Decimal('0.01')), "
        "format(decimal.Decimal('1234.5'), ','))"
    ),
    "print(''.join(chr(i) for i in range(0x20, 0x3000)))",
]


def inner() -> None:
    """Runs under strace: the corpus through the real handler, every vetted module allowed."""
    sys.path.insert(0, LAMBDA_DIR)
    from sandbox import modules, zygote_client

    zygote_client.ZYGOTE_PRELUDE = ALLOW_EVERYTHING
    os.environ["SANDBOX_ALLOWED_MODULES"] = ",".join(modules.VETTED_MODULES)
    os.environ["SANDBOX_TIMEOUT_MS"] = "3000"
    import handler

    for code in CORPUS:
        handler.handler({"code": code}, None)


def measure(python: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace")
        subprocess.run(
            ["strace", "-f", "-qq", "-o", trace, python, os.path.abspath(__file__), "--inner"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        counts: collections.Counter = collections.Counter()
        examples = {}
        filtered = set()
        with open(trace, errors="replace") as lines:
            for line in lines:
                match = re.match(r"(\d+)\s+(.*)", line)
                if not match:
                    continue
                pid, rest = match.groups()
                if "PR_SET_SECCOMP" in rest:
                    filtered.add(pid)
                    continue
                if pid not in filtered or rest.startswith(("+++", "---", "<... prctl resumed>")):
                    continue
                call = re.match(r"(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)", rest)
                if call:
                    counts[call.group(1)] += 1
                    examples.setdefault(call.group(1), rest[:120])
    return {
        "arch": os.uname().machine,
        "children": len(filtered),
        "syscalls": dict(counts),
        "examples": examples,
        "refusedOnPurpose": REFUSED_ON_PURPOSE,
    }


def main() -> None:
    if "--inner" in sys.argv:
        inner()
        return
    result = measure(sys.executable)
    if "--json" in sys.argv:
        print(json.dumps(result))
        return
    print(f"{result['children']} children on {result['arch']}; syscalls after the filter went in:")
    for name, count in sorted(result["syscalls"].items(), key=lambda item: -item[1]):
        print(f"{count:8d}  {name:18s} {result['examples'][name]}")


if __name__ == "__main__":
    main()
