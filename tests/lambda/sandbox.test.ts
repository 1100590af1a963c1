/**
 * The sandbox handler against real CPython processes, on every CPython 3.11+ of the machine,
 * as root and as an unprivileged user (the way Lambda runs it). Each run gets a few warm
 * handler processes (tests/lambda/harness.py) that serve a batch of events in order, the way
 * a warm Lambda environment serves invocations. Every response must also survive the Lambda
 * runtime's marshalling (responseOf fails otherwise).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  BatchResult,
  CANARY,
  code,
  responseOf,
  runAsModes,
  runBatch,
  SandboxResponse,
} from "./sandbox-harness";
import { supportedPythons } from "./pythons";
import { BACKEND_ERROR_TYPES } from "../../contract/sandbox";

const PYTHONS = supportedPythons();
const MODES = runAsModes();
const RUNS = PYTHONS.flatMap((p) => MODES.map((m) => [p.version, m.label, p.path, m] as const));

function everything(result: BatchResult | undefined): string {
  return JSON.stringify(result?.response ?? result);
}

const SEED_EXAMPLES: Array<[string, string, Partial<SandboxResponse>]> = [
  ["25 * 47 printed", "print(25 * 47)", { ok: true, stdout: "1175\n", result: null }],
  ["15% of 2847 as a trailing expression", "15 / 100 * 2847", { ok: true, stdout: "", result: "427.05" }],
  [
    "the sum of the first 100 primes",
    "primes = []\nn = 2\nwhile len(primes) < 100:\n    if all(n % p for p in primes if p * p <= n):\n        primes.append(n)\n    n += 1\nprint(sum(primes))",
    { ok: true, stdout: "24133\n" },
  ],
  [
    "Fibonacci",
    "a, b = 0, 1\nfib = []\nfor _ in range(10):\n    fib.append(a)\n    a, b = b, a + b\nprint(fib)",
    { ok: true, stdout: "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n" },
  ],
  ["sqrt(144)", "import math\nmath.sqrt(144)", { ok: true, result: "12.0" }],
];

// Real calls of every allowed module, lazy helpers included (Counter.most_common -> heapq,
// strptime -> _strptime, namedtuple -> frame-free module name, uuid3/5 -> hashlib...).
const MODULE_CALLS: Record<string, [string, string]> = {
  math: [
    "import math\nprint(math.factorial(10), math.gcd(12, 18), round(math.log(math.e), 3), math.comb(5, 2))",
    "3628800 6 1.0 10\n",
  ],
  json: [
    'import json\nprint(json.dumps({"b": [1, 2.5, None]}, sort_keys=True), json.loads("[1, 2]")[1])',
    '{"b": [1, 2.5, null]} 2\n',
  ],
  datetime: [
    'import datetime\nd = datetime.datetime.strptime("2024-03-01", "%Y-%m-%d")\nprint((d + datetime.timedelta(days=30)).date(), d.strftime("%A"), datetime.date.fromisoformat("2024-02-29").isoweekday())',
    "2024-03-31 Friday 4\n",
  ],
  random: [
    "import random\nrandom.seed(1)\nx = [random.randint(1, 6) for _ in range(3)]\nrandom.seed(1)\nprint(x == [random.randint(1, 6) for _ in range(3)], len(random.sample(range(100), 5)), 0 <= random.random() < 1)",
    "True 5 True\n",
  ],
  statistics: [
    "import statistics\nprint(statistics.mean([1, 2, 3, 4]), statistics.median([3, 1, 2]), round(statistics.stdev([2, 4, 4, 4, 5, 5, 7, 9]), 4), statistics.mode([1, 1, 2]), round(statistics.NormalDist(0, 1).cdf(0), 2))",
    "2.5 2 2.1381 1 0.5\n",
  ],
  re: [
    'import re\nprint(re.findall(r"\\d+", "a1b22c333"), re.sub(r"(\\w)(\\w)", r"\\2\\1", "abcd"), bool(re.fullmatch(r"[a-z]+", "abc")))',
    "['1', '22', '333'] badc True\n",
  ],
  collections: [
    'import collections\nP = collections.namedtuple("P", "x y")\nprint(collections.Counter("abracadabra").most_common(2), P(1, 2), collections.deque([1, 2], maxlen=1), dict(collections.OrderedDict(a=1)))',
    "[('a', 5), ('b', 2)] P(x=1, y=2) deque([2], maxlen=1) {'a': 1}\n",
  ],
  itertools: [
    "import itertools\nprint(list(itertools.permutations([1, 2])), list(itertools.accumulate([1, 2, 3])), list(itertools.islice(itertools.count(5), 3)))",
    "[(1, 2), (2, 1)] [1, 3, 6] [5, 6, 7]\n",
  ],
  string: [
    'import string\nprint(string.ascii_lowercase[:5], string.Template("$x!").substitute(x="hi"), string.capwords("a b"))',
    "abcde hi! A B\n",
  ],
  decimal: [
    'import decimal\ndecimal.getcontext().prec = 6\nprint(decimal.Decimal(1) / decimal.Decimal(7), decimal.Decimal("2.675").quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))',
    "0.142857 2.68\n",
  ],
  fractions: [
    "import fractions\nprint(fractions.Fraction(1, 3) + fractions.Fraction(1, 6), fractions.Fraction(0.75), fractions.Fraction(355, 113).limit_denominator(10))",
    "1/2 3/4 22/7\n",
  ],
  uuid: [
    'import uuid\nu = uuid.uuid4()\nprint(u.version, uuid.uuid5(uuid.NAMESPACE_DNS, "example.com"), uuid.uuid3(uuid.NAMESPACE_DNS, "x").version, uuid.uuid1().version)',
    "4 cfbff0d1-9375-5685-968c-48ce8b15ae17 3 1\n",
  ],
  hashlib: [
    'import hashlib\nprint(hashlib.sha256(b"abc").hexdigest()[:16], hashlib.md5(b"").hexdigest()[:8], hashlib.blake2b(b"a", digest_size=4).hexdigest(), hashlib.sha3_256(b"").hexdigest()[:8])',
    "ba7816bf8f01cfea d41d8cd9 ",
  ],
  base64: [
    'import base64\nprint(base64.b64encode(b"hello").decode(), base64.b64decode("aGk=").decode(), base64.b32encode(b"a").decode(), base64.b85encode(b"ab").decode())',
    "aGVsbG8= hi ME====== VPX\n",
  ],
  textwrap: [
    'import textwrap\nprint(textwrap.wrap("the quick brown fox", 10), textwrap.shorten("hello there world", 12), repr(textwrap.dedent("  a\\n  b")))',
    "['the quick', 'brown fox'] hello [...] 'a\\nb'\n",
  ],
};

// Every vetted module (lambda/sandbox/modules.py) with a real call and the start of its output.
const VETTED_MODULE_CALLS: Record<string, [string, string]> = {
  ...Object.fromEntries(Object.entries(MODULE_CALLS).map(([name, [src, out]]) => [name, [src, out]])),
  bisect: [
    "import bisect\nxs = [1, 3]\nbisect.insort(xs, 2)\nprint(xs, bisect.bisect_left(xs, 3))",
    "[1, 2, 3] 2\n",
  ],
  binascii: [
    "import binascii\nprint(binascii.hexlify(b'hi').decode(), binascii.crc32(b'hi'))",
    "6869 3633523372\n",
  ],
  calendar: [
    "import calendar\nprint(calendar.isleap(2024), calendar.monthrange(2024, 2)[1], calendar.day_name[0])",
    "True 29 Monday\n",
  ],
  cmath: ["import cmath\nprint(cmath.sqrt(-4), round(cmath.phase(1j), 4))", "2j 1.5708\n"],
  colorsys: ["import colorsys\nprint(colorsys.rgb_to_hsv(1.0, 0.0, 0.0))", "(0.0, 1.0, 1.0)\n"],
  copy: ["import copy\na = [[1]]\nb = copy.deepcopy(a)\nb[0].append(2)\nprint(a, b)", "[[1]] [[1, 2]]\n"],
  csv: ["import csv\nprint(list(csv.reader(['a,\"b,c\"', '1,2'])))", "[['a', 'b,c'], ['1', '2']]\n"],
  difflib: [
    "import difflib\nprint(difflib.get_close_matches('appel', ['apple', 'ape', 'peach']))",
    "['apple', 'ape']\n",
  ],
  functools: [
    "import functools, operator\nprint(functools.reduce(operator.mul, range(1, 6)), functools.lru_cache()(abs)(-3))",
    "120 3\n",
  ],
  graphlib: [
    "import graphlib\nprint(list(graphlib.TopologicalSorter({'b': {'a'}, 'c': {'b'}}).static_order()))",
    "['a', 'b', 'c']\n",
  ],
  heapq: [
    "import heapq\nprint(heapq.nsmallest(2, [5, 1, 4, 2]), list(heapq.merge([1, 4], [2, 3])))",
    "[1, 2] [1, 2, 3, 4]\n",
  ],
  hmac: ["import hmac\nprint(hmac.new(b'key', b'msg', 'sha256').hexdigest()[:16])", "2d93cbc1be167bcb\n"],
  html: [
    "import html, html.parser\nprint(html.escape('<a href=\"x\">'), html.unescape('&lt;&eacute;'))",
    "&lt;a href=&quot;x&quot;&gt; <é\n",
  ],
  operator: ["import operator\nprint(operator.itemgetter(1, 0)('ab'), operator.add(2, 3))", "('b', 'a') 5\n"],
  pprint: ["import pprint\npprint.pprint({'b': 1, 'a': [1, 2]})", "{'a': [1, 2], 'b': 1}\n"],
  reprlib: ["import reprlib\nprint(reprlib.repr(list(range(100))))", "[0, 1, 2, 3, 4, 5, ...]\n"],
  secrets: [
    "import secrets\nprint(len(secrets.token_hex(16)), 0 <= secrets.randbelow(10) < 10)",
    "32 True\n",
  ],
  struct: [
    "import struct\nprint(struct.unpack('<If', struct.pack('<If', 7, 2.5)), struct.calcsize('<IH'))",
    "(7, 2.5) 6\n",
  ],
  time: [
    "import time\nstart = time.monotonic()\ntime.sleep(0.01)\nprint(time.monotonic() - start >= 0.01, time.strftime('%Y', time.gmtime(0)))",
    "True 1970\n",
  ],
  unicodedata: [
    "import unicodedata\nprint(unicodedata.category('A'), unicodedata.normalize('NFKC', '\uFB01'))",
    "Lu fi\n",
  ],
  zlib: [
    "import zlib\nprint(len(zlib.decompress(zlib.compress(b'x' * 1000))), zlib.crc32(b'x'))",
    "1000 2363233923\n",
  ],
};

// Every escape tries to produce an effect the test can observe: print a canary secret,
// create MARKER, or connect to PORT (a listener standing in for the Lambda Runtime API).
const ESCAPES: Array<[string, string, string]> = [
  // category, description, code
  ["module pivot", "os.system through random._os", 'import random\nrandom._os.system("touch MARKER")'],
  [
    "module pivot",
    "environ through uuid.os",
    "import uuid\nprint(dict(uuid.os.environ))\nprint(uuid.os.getenv('AWS_SECRET_ACCESS_KEY'))",
  ],
  [
    "module pivot",
    "posix.environ through uuid.sys.modules",
    'import uuid\nprint(uuid.sys.modules["posix"].environ)',
  ],
  [
    "module pivot",
    "posix.system through sys.modules",
    'import uuid\nuuid.sys.modules["posix"].system("touch MARKER")',
  ],
  [
    "module pivot",
    "os.open of the marker through statistics.sys",
    'import statistics\no = statistics.sys.modules["os"]\no.open("MARKER", o.O_CREAT | o.O_WRONLY)',
  ],
  [
    "module pivot",
    "os.putenv then reading it back",
    'import uuid\nuuid.os.environ["LEAK"] = "1"\nprint(uuid.os.environ.get("LEAK"))',
  ],
  [
    "subclasses walk",
    "os._wrap_close globals to system",
    'for c in ().__class__.__base__.__subclasses__():\n    if c.__name__ == "_wrap_close":\n        c.__init__.__globals__["system"]("touch MARKER")',
  ],
  [
    "subclasses walk",
    "FileIO found by walking",
    'io = [c for c in object.__subclasses__() if c.__name__ == "_IOBase"][0]\nfor c in io.__subclasses__():\n    for d in c.__subclasses__():\n        if d.__name__ == "FileIO":\n            d("MARKER", "w")',
  ],
  [
    "subclasses walk",
    "BuiltinImporter reloads posix",
    'bi = [c for c in object.__subclasses__() if c.__name__ == "BuiltinImporter"][0]\nbi.load_module("posix").system("touch MARKER")',
  ],
  [
    "subclasses walk",
    "environ via a walked function's globals",
    'for c in object.__subclasses__():\n    g = getattr(getattr(c, "__init__", None), "__globals__", None)\n    if g and "environ" in g:\n        print(dict(g["environ"]))',
  ],
  [
    "frames",
    "traceback frame walk to the handler's globals",
    "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame\n    while f:\n        print(f.f_globals.keys())\n        f = f.f_back",
  ],
  ["frames", "generator frame", "g = (x for x in [1])\nprint(g.gi_frame.f_back)"],
  [
    "frames",
    "sys._getframe to the parent",
    "import uuid\nf = uuid.sys._getframe(0)\nwhile f:\n    print(f.f_locals)\n    f = f.f_back",
  ],
  ["frames", "sys._current_frames", "import uuid\nprint(uuid.sys._current_frames())"],
  ["frames", "settrace to capture frames", "import uuid\nuuid.sys.settrace(lambda *a: print(a))\nprint(1)"],
  [
    "gc",
    "gc.get_objects finds the environ strings",
    'import uuid\ngc = uuid.sys.modules["gc"]\nprint([o for o in gc.get_objects() if isinstance(o, dict) and "AWS_SECRET_ACCESS_KEY" in o])',
  ],
  [
    "gc",
    "gc.get_referrers of a module",
    'import uuid, math\nprint(uuid.sys.modules["gc"].get_referrers(math))',
  ],
  [
    "import machinery",
    "importlib.import_module of socket",
    'import uuid\nuuid.sys.modules["importlib"].import_module("socket").create_connection(("127.0.0.1", PORT))',
  ],
  [
    "import machinery",
    "the real __import__ from builtins",
    'import uuid\nuuid.sys.modules["builtins"].__import__("subprocess").run(["touch", "MARKER"])',
  ],
  [
    "import machinery",
    "__loader__ of an allowed module loads a file",
    'import uuid\nL = uuid.__loader__.__class__\nL("sh", "/bin/sh").get_data("/proc/self/environ")',
  ],
  [
    "import machinery",
    "exec of a compiled import",
    'exec(compile("import os; os.system(\'touch MARKER\')", "x", "exec"))',
  ],
  ["import machinery", "eval of __import__", "eval(\"__import__('os').system('touch MARKER')\")"],
  ["import machinery", "relative import", "from . import os"],
  [
    "import machinery",
    "importlib after removing the allow-list finder",
    'import uuid\ns = uuid.sys\ns.meta_path[:] = [f for f in s.meta_path if type(f).__name__ != "AllowListFinder"]\ns.modules["importlib"].import_module("subprocess").run(["touch", "MARKER"])',
  ],
  ["ctypes", "import ctypes", "import ctypes\nctypes.CDLL(None).system(b'touch MARKER')"],
  [
    "ctypes",
    "a leftover ctypes in sys.modules",
    'import uuid\nc = uuid.sys.modules.get("ctypes") or uuid.sys.modules["builtins"].__import__("ctypes")\nc.CDLL(None).system(b"touch MARKER")',
  ],
  ["file reads", "open /proc/self/environ", 'print(open("/proc/self/environ").read())'],
  [
    "file reads",
    "os.read of /proc/self/environ",
    'import uuid\no = uuid.os\nprint(o.read(o.open("/proc/self/environ", o.O_RDONLY), 100000))',
  ],
  [
    "file reads",
    "/proc/1/environ and /etc/passwd",
    'print(open("/proc/1/environ").read(), open("/etc/passwd").read())',
  ],
  ["file reads", "listing the function's directory", 'import uuid\nprint(uuid.os.listdir("/"))'],
  ["file writes", "open the marker for writing", 'open("MARKER", "w").write("x")'],
  ["sockets", "socket module", 'import socket\nsocket.create_connection(("127.0.0.1", PORT))'],
  [
    "sockets",
    "_socket through sys.modules or the import system",
    'import uuid\nb = uuid.sys.modules["builtins"]\ns = b.__import__("_socket")\ns.socket().connect(("127.0.0.1", PORT))',
  ],
  [
    "sockets",
    "urllib to the runtime API",
    'import uuid\nuuid.sys.modules["builtins"].__import__("urllib.request").request.urlopen("http://127.0.0.1:PORT/2018-06-01/runtime/invocation/next")',
  ],
  ["processes", "os.fork", "import uuid\npid = uuid.os.fork()\nif pid == 0:\n    open('MARKER', 'w')"],
  [
    "processes",
    "posix_spawn",
    'import uuid\nuuid.os.posix_spawn("/bin/sh", ["sh", "-c", "touch MARKER"], {})',
  ],
  [
    "processes",
    "execv replaces the sandbox",
    'import uuid\nuuid.os.execv("/bin/sh", ["sh", "-c", "touch MARKER"])',
  ],
  ["processes", "os.popen", 'import uuid\nprint(uuid.os.popen("touch MARKER; echo done").read())'],
  ["signals", "kill the parent", "import uuid\nuuid.os.kill(uuid.os.getppid(), 9)"],
  [
    "signals",
    "killpg of the parent's group",
    "import uuid\nuuid.os.killpg(uuid.os.getpgid(uuid.os.getppid()), 9)",
  ],
  [
    "processes",
    "the handler's CPU time through its process CPU clock (any pid's: which processes exist)",
    'import uuid\nprint(uuid.sys.modules["time"].clock_gettime(((~HANDLER_PID) << 3) | 2))',
  ],
  [
    "threads",
    "_thread.start_new_thread",
    'import uuid\nuuid.sys.modules["_thread"].start_new_thread(print, ("thread",))',
  ],
  [
    "interpreter internals",
    "crafted code object",
    "def f():\n    pass\nf.__code__ = f.__code__.replace(co_consts=(1,))",
  ],
  [
    "interpreter internals",
    "FunctionType from a code object",
    "print(type(lambda: 0)(compile('1', 'x', 'eval'), {})())",
  ],
  [
    "interpreter internals",
    "marshal.loads of bytecode",
    'import uuid\nuuid.sys.modules["marshal"].loads(b"c")',
  ],
  [
    "interpreter internals",
    "adding an audit hook",
    "import uuid\nuuid.sys.addaudithook(lambda event, args: print('HOOKED', event))\nid(1)",
  ],
  [
    "interpreter internals",
    "disarming the policy module's tables",
    'import uuid\np = uuid.sys.modules["sandbox.policy"]\np.BLOCKED_EVENTS = frozenset()\np.BLOCKED_PREFIXES = ()\nopen("MARKER", "w")',
  ],
  [
    "interpreter internals",
    "raising the resource limits",
    'import uuid\nr = uuid.sys.modules["resource"]\nr.setrlimit(r.RLIMIT_NPROC, (100, 100))\nuuid.os.fork()',
  ],
  [
    "persistence",
    "overwrite builtins and modules for the next call",
    'import uuid, math, json\nb = uuid.sys.modules["builtins"]\nb.len = None\nb.print = None\nmath.pi = 3\njson.dumps = lambda *a, **k: "hacked"',
  ],
  ["persistence", "change directory and environment for the next call", 'import uuid\nuuid.os.chdir("/tmp")'],
  ["input", "breakpoint and input", "breakpoint()\ninput()"],
];

describe.each(RUNS)("sandbox on CPython %s %s", (_version, _label, python, runAs) => {
  describe("contract examples and allowed modules", () => {
    const events = [
      ...SEED_EXAMPLES.map(([, src]) => code(src)),
      ...Object.values(MODULE_CALLS).map(([src]) => code(src)),
    ];
    let results: BatchResult[];
    beforeAll(() => {
      results = runBatch(python, events, { runAs });
    });

    it.each(SEED_EXAMPLES.map(([name, , expected], i) => [name, i, expected] as const))(
      "answers the seed example: %s",
      (_name, i, expected) => {
        expect(responseOf(results[i])).toMatchObject({ ...expected, error: null, truncated: false });
      },
    );

    it.each(
      Object.entries(MODULE_CALLS).map(([mod, [, out]], i) => [mod, SEED_EXAMPLES.length + i, out] as const),
    )("runs real functions of %s", (_mod, i, out) => {
      const response = responseOf(results[i]);
      expect(response.error).toBeNull();
      expect(response.stdout.startsWith(out)).toBe(true);
    });
  });

  describe("results, errors and fresh state", () => {
    let results: BatchResult[];
    const events = [
      code("x = 6\nx * 7"),
      code("print('a')\nNone"),
      code("[1, 'two', {'three': 3.0}]"),
      code("1 / 0"),
      code("undefined_name"),
      code("def f(:\n  pass"),
      code("import os"),
      code("import random\nprint(random.random())"),
      code("import random\nprint(random.random())"),
      code("raise SystemExit(0)"),
      code("class Oops(Exception):\n    pass\nraise Oops('custom')"),
      { ...code("print(1)"), __context__: { requestId: "req-123", remainingMs: 60000 } },
    ];
    beforeAll(() => {
      results = runBatch(python, events, { runAs });
    });

    it("returns repr() of a trailing expression as result", () => {
      expect(responseOf(results[0])).toMatchObject({ ok: true, result: "42" });
      expect(responseOf(results[1])).toMatchObject({ ok: true, stdout: "a\n", result: null });
      expect(responseOf(results[2]).result).toBe("[1, 'two', {'three': 3.0}]");
    });

    it("reports ordinary Python errors by class name with a traceback of the user's code only", () => {
      expect(responseOf(results[3]).error).toMatchObject({
        type: "ZeroDivisionError",
        message: "division by zero",
      });
      expect(responseOf(results[3]).error?.traceback).toContain('File "<sandbox>", line 1');
      expect(responseOf(results[3]).error?.traceback).not.toContain("runner.py");
      expect(responseOf(results[4]).error?.type).toBe("NameError");
      expect(responseOf(results[5]).error).toMatchObject({ type: "SyntaxError" });
      expect(responseOf(results[10]).error).toMatchObject({ type: "Oops", message: "custom" });
      expect(responseOf(results[9])).toMatchObject({ ok: true, error: null });
    });

    it("names the module and lists the allowed ones for ModuleNotAllowed", () => {
      const error = responseOf(results[6]).error;
      expect(error?.type).toBe("ModuleNotAllowed");
      expect(error?.message).toContain("'os'");
      for (const mod of Object.keys(MODULE_CALLS)) expect(error?.message).toContain(mod);
    });

    it("does not replay the parent's random state in each child", () => {
      expect(responseOf(results[7]).stdout).not.toBe(responseOf(results[8]).stdout);
    });

    it("works with a Lambda-like context and with context=None", () => {
      expect(responseOf(results[11])).toMatchObject({ ok: true, stdout: "1\n" });
      expect(responseOf(results[0]).ok).toBe(true); // context None
    });
  });

  describe("escape attempts (each must leave no effect)", () => {
    let results: BatchResult[];
    let dir: string;
    let marker: string;
    let connections = 0;
    let listener: net.Server;
    let baseline: BatchResult;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-escape-"));
      fs.chmodSync(dir, 0o777);
      marker = path.join(dir, "marker");
      listener = net.createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
      const port = (listener.address() as net.AddressInfo).port;
      const events = [code("print(25 * 47)")];
      for (const [, , src] of ESCAPES) {
        events.push(code(src.replaceAll("MARKER", marker).replaceAll("PORT", String(port)), 3000));
        events.push(code("import math, json\nprint(len([1, 2]), math.pi, json.dumps([1]))"));
      }
      results = runBatch(python, events, { runAs });
      baseline = results[0]!;
      await new Promise((r) => setTimeout(r, 200)); // let the listener see queued connections
    }, 120000);
    afterAll(async () => {
      await new Promise((r) => listener.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("created no marker file and opened no connection to the runtime API stand-in", () => {
      expect(fs.existsSync(marker)).toBe(false);
      expect(connections).toBe(0);
    });

    it.each(ESCAPES.map(([category, description], i) => [category, description, i] as const))(
      "%s: %s has no effect",
      (_category, _description, i) => {
        const attempt = results[1 + 2 * i];
        const next = results[2 + 2 * i];
        const text = everything(attempt);
        for (const secret of Object.values(CANARY)) expect(text).not.toContain(secret);
        expect(attempt?.functionError).toBeUndefined();
        // The following invocation in the same warm environment is pristine.
        expect(responseOf(next)).toMatchObject({ ok: true, stdout: "2 3.141592653589793 [1]\n" });
        expect(next?.after).toEqual(baseline.after);
        expect(attempt?.after).toEqual(baseline.after);
      },
    );

    it("refuses each capability with OperationNotAllowed or ModuleNotAllowed, never silently", () => {
      const harmlessWhenAllowed = new Set([
        "environ through uuid.os",
        "posix.environ through uuid.sys.modules",
        "environ via a walked function's globals",
        "overwrite builtins and modules for the next call",
        // CPython swallows an Exception raised for sys.addaudithook: the hook is just not added.
        "adding an audit hook",
      ]);
      ESCAPES.forEach(([, description], i) => {
        const response = responseOf(results[1 + 2 * i]);
        if (harmlessWhenAllowed.has(description)) return;
        expect([description, response.ok]).toEqual([description, false]);
        expect([
          description,
          ["OperationNotAllowed", "ModuleNotAllowed"].includes(response.error!.type),
        ]).toEqual([description, true]);
      });
    });

    it("does not let user code add an audit hook of its own", () => {
      const i = ESCAPES.findIndex(([, d]) => d === "adding an audit hook");
      expect(responseOf(results[1 + 2 * i]).stdout).not.toContain("HOOKED");
    });

    it("shows user code an empty environment", () => {
      const i = ESCAPES.findIndex(([, d]) => d === "environ through uuid.os");
      expect(responseOf(results[1 + 2 * i]).stdout).toBe("{}\nNone\n");
    });
  });

  describe("limits", () => {
    let results: BatchResult[];
    // The function's limit is generous, so that the memory bombs and the flood finish on a
    // loaded machine (a bomb takes ~80 ms alone; it took over 1.5 s once, under a clean-clone
    // CI run beside three other test runs); the runs meant to time out ask for less.
    const env = { SANDBOX_TIMEOUT_MS: "10000", SANDBOX_MAX_OUTPUT_BYTES: "1000", SANDBOX_MEMORY_MB: "128" };
    const sane = code("print(25 * 47)");
    const events = [
      code("print('before')\nwhile True:\n    pass", 1500),
      sane,
      code("x = bytearray(1024 * 1024 * 1024)"),
      sane,
      code("chunks = []\nwhile True:\n    chunks.append('x' * 10_000_000)"),
      sane,
      // 200 KB of output against a 1000-byte cap.
      code("for i in range(20000):\n    print('flood', i)"),
      sane,
      code("import uuid\nfor i in range(50):\n    uuid.os.fork()"),
      sane,
      code("import time\ntime.sleep(10)", 500),
      sane,
      code("print('x' * 5000)\nimport sys"),
      code("import uuid\nprint('bye')\nuuid.os._exit(3)"),
      sane,
      code('import uuid\nuuid.os.write(3, b"not json")'),
      sane,
      code('import uuid\nuuid.sys.modules["signal"].raise_signal(11)'),
      sane,
      // Code that ends right at its deadline (1 to 10 ms), twice each: the race between its
      // exit and the kill.
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((ms) => code("1", ms)),
    ];
    const AT_DEADLINE = events.length - 20;
    beforeAll(() => {
      results = runBatch(python, events, { env, runAs });
    }, 60000);

    it("stops an infinite loop with Timeout within the timeout plus 1 s, keeping earlier output", () => {
      const response = responseOf(results[0]);
      expect(response.error?.type).toBe("Timeout");
      expect(response.stdout).toBe("before\n");
      expect(response.durationMs).toBeLessThan(1500 + 1000);
      expect(responseOf(results[10]).error?.type).toBe("Timeout");
      expect(responseOf(results[10]).durationMs).toBeLessThan(500 + 1000);
    });

    it("reports MemoryLimit for memory bombs", () => {
      expect(responseOf(results[2]).error?.type).toBe("MemoryLimit");
      expect(responseOf(results[4]).error?.type).toBe("MemoryLimit");
    });

    it("truncates an output flood at the cap", () => {
      const flood = responseOf(results[6]);
      expect(flood).toMatchObject({ ok: true, truncated: true });
      expect(Buffer.byteLength(flood.stdout)).toBe(1000);
      const wide = responseOf(results[12]);
      expect(wide.truncated).toBe(true);
      expect(wide.stdout.length).toBe(1000);
    });

    it("answers code that ends at its deadline with its result or Timeout, never ProcessCrashed", () => {
      for (const result of results.slice(AT_DEADLINE)) {
        const response = responseOf(result);
        if (response.ok) expect(response.result).toBe("1");
        else expect(response.error?.type).toBe("Timeout");
      }
    });

    it("refuses a fork bomb", () => {
      expect(responseOf(results[8]).error?.type).toBe("OperationNotAllowed");
    });

    it("keeps working after each of them", () => {
      for (const i of [1, 3, 5, 7, 9, 11])
        expect(responseOf(results[i])).toMatchObject({ ok: true, stdout: "1175\n" });
    });
  });

  describe("malformed events", () => {
    const bigCode = "#" + "é".repeat(32768); // 65537 bytes of UTF-8, under 64 Ki characters
    const malformed: Array<[string, unknown]> = [
      ["missing code", {}],
      ["non-string code", { code: 123 }],
      ["null code", { code: null }],
      ["code over 64 KiB of UTF-8", { code: bigCode }],
      ["string timeoutMs", { code: "1", timeoutMs: "100" }],
      ["boolean timeoutMs", { code: "1", timeoutMs: true }],
      ["fractional timeoutMs", { code: "1", timeoutMs: 1.5 }],
      ["negative timeoutMs", { code: "1", timeoutMs: -5 }],
      ["list timeoutMs", { code: "1", timeoutMs: [1] }],
      ["a list event", { event: ["print(1)"] }],
      ["a string event", { event: "print(1)" }],
      ["a None event", { event: null }],
    ];
    let results: BatchResult[];
    beforeAll(() => {
      results = runBatch(python, [...malformed.map(([, e]) => e), code("print(1)", 999999999)], { runAs });
    });

    it.each(malformed.map(([name], i) => [name, i] as const))("answers InvalidRequest for %s", (_name, i) => {
      expect(responseOf(results[i])).toMatchObject({
        ok: false,
        stdout: "",
        result: null,
        error: { type: "InvalidRequest" },
      });
      expect(responseOf(results[i]).error?.message.length).toBeGreaterThan(10);
    });

    it("clamps an oversized timeoutMs instead of refusing it", () => {
      expect(responseOf(results[malformed.length])).toMatchObject({ ok: true, stdout: "1\n" });
    });
  });

  describe("bad configuration", () => {
    it.each([
      ["SANDBOX_TIMEOUT_MS", "soon"],
      ["SANDBOX_MAX_OUTPUT_BYTES", "-1"],
      ["SANDBOX_MEMORY_MB", "lots"],
      ["SANDBOX_ALLOWED_MODULES", "math,os"],
    ])("reports %s=%s as a function error naming the variable, on every call", (name, value) => {
      const results = runBatch(python, [code("print(1)"), code("print(2)")], {
        env: { [name]: value },
        runAs,
      });
      for (const r of results) {
        expect(r.functionError?.type).toBe("ConfigError");
        expect(r.functionError?.message).toContain(name);
      }
    });

    it("honours a custom allow-list", () => {
      const [allowed, refused] = runBatch(
        python,
        [code("import math\nmath.floor(2.5)"), code("import json")],
        { env: { SANDBOX_ALLOWED_MODULES: "math" }, runAs },
      );
      expect(responseOf(allowed).result).toBe("2");
      expect(responseOf(refused).error).toMatchObject({
        type: "ModuleNotAllowed",
        message: expect.stringContaining("allowed modules: math"),
      });
    });
  });

  describe("the response limit (6,291,556 bytes as Lambda serialises it)", () => {
    // At the largest output cap the stack allows (1 MiB), output of control characters (6
    // bytes each in JSON) or quotes (2 bytes) would make the response a function error.
    let results: BatchResult[];
    beforeAll(() => {
      results = runBatch(
        python,
        [
          code("print('\\x01' * 2**20)"),
          code("import uuid\nprint('\\x01' * 2**20)\nuuid.sys.stderr.write('\\x1f' * 2**20)\n'\"' * 2**20"),
          code("print(25 * 47)"),
        ],
        { env: { SANDBOX_MAX_OUTPUT_BYTES: String(1024 * 1024) }, runAs },
      );
    }, 60000);

    it("answers output that would serialise past it cut to fit, marked truncated, never a function error", () => {
      // responseOf fails for a response over the limit (the harness measures each one).
      const one = responseOf(results[0]);
      expect(one).toMatchObject({ ok: true, truncated: true });
      expect(one.stdout.startsWith("\x01".repeat(100000))).toBe(true);
      const all = responseOf(results[1]);
      expect(all).toMatchObject({ ok: true, truncated: true });
      expect(all.stdout.length + all.stderr.length + all.result!.length).toBeGreaterThan(500000);
      expect(responseOf(results[2])).toMatchObject({ ok: true, stdout: "1175\n", truncated: false });
    });
  });

  describe("the allow-list gate", () => {
    it.each(["_imp", "pwd", "grp", "posixpath", "io", "ctypes", "mmap", "zoneinfo", "locale", "math,os"])(
      "refuses SANDBOX_ALLOWED_MODULES=%s: only vetted modules may be allowed",
      (modules) => {
        const [result] = runBatch(python, [code("print(1)")], {
          env: { SANDBOX_ALLOWED_MODULES: modules },
          runAs,
        });
        expect(result?.functionError?.type).toBe("ConfigError");
        expect(result?.functionError?.message).toMatch(
          /SANDBOX_ALLOWED_MODULES may only name vetted modules/,
        );
        expect(result?.functionError?.message).toContain(modules.split(",").pop());
      },
    );

    it("runs real functions of every vetted module when all are allowed (each was warmed in the zygote)", () => {
      const calls = Object.entries(VETTED_MODULE_CALLS);
      const results = runBatch(
        python,
        calls.map(([, [src]]) => code(src)),
        { env: { SANDBOX_ALLOWED_MODULES: Object.keys(VETTED_MODULE_CALLS).join(",") }, runAs },
      );
      calls.forEach(([name, [, expected]], i) => {
        const response = responseOf(results[i]);
        expect([
          name,
          response.error,
          response.stdout.startsWith(expected) ? expected : response.stdout,
        ]).toEqual([name, null, expected]);
      });
    });
  });

  describe("what users see", () => {
    const CHILD_VERDICT_TYPES = ["MemoryLimit", "ModuleNotAllowed", "OperationNotAllowed"];
    const events = [
      code("e = ValueError('bad value')\ne.add_note('checked the input twice')\nraise e"),
      code("raise ExceptionGroup('two problems', [ValueError('first'), TypeError('second')])"),
      code("x = 1\n\f\nprint('\u2028')\ny = 2\nraise KeyError('on line 5')"),
      code("'\u{1F600}' * 35000"),
      code("import unicodedata\nprint(unicodedata.name('\u00e9'))"),
      code("raise ValueError('\\ud800 lone surrogate')"),
      code("print('\\udcff', '\\ud800')"),
      code("class Timeout(Exception):\n    pass\nraise Timeout('mine')"),
      code(`class ${"N".repeat(300)}(Exception):\n    pass\nraise ${"N".repeat(300)}()`),
      code("print('done')\nexit(0)\nprint('not reached')"),
      // The backend answers these types with 502/503 and Retry-After (contract/http.ts).
      ...BACKEND_ERROR_TYPES.map((type) =>
        code(`class ${type}(Exception):\n    pass\nraise ${type}('mine')`),
      ),
      // A str subclass whose encode() lies, from __repr__ and from __str__; a SystemExit code
      // whose __eq__ raises or says it equals anything.
      code(
        "class S(str):\n    def encode(self, *a, **k):\n        return 5\nclass C:\n    def __repr__(self):\n        return S('shown')\nC()",
      ),
      code(
        "class S(str):\n    def __getitem__(self, i):\n        return 5\nclass E(Exception):\n    def __str__(self):\n        return S('said')\nraise E()",
      ),
      code(
        "class C:\n    def __eq__(self, other):\n        raise ValueError\n    def __repr__(self):\n        return 'C'\nraise SystemExit(C())",
      ),
      code(
        "class C:\n    def __eq__(self, other):\n        return True\n    def __repr__(self):\n        return 'C'\nraise SystemExit(C())",
      ),
      // 100,000 chained exceptions: CPython 3.11's C printer overflowed its stack on them.
      code(
        "e = ValueError(0)\nfor i in range(1, 100000):\n    n = ValueError(i)\n    n.__cause__ = e\n    e = n\nraise e",
      ),
      // Exceptions whose attributes lie or raise where the sandbox looks at them: __class__
      // (isinstance asks it), ImportError.name, SystemExit.code.
      ...[
        "class E(Exception):\n    @property\n    def __class__(self):\n        raise ValueError\nraise E('mine')",
        "class E(Exception):\n    @property\n    def __class__(self):\n        return MemoryError\nraise E('mine')",
        "class E(ImportError):\n    @property\n    def name(self):\n        raise ValueError\nraise E('mine')",
        "class E(SystemExit):\n    @property\n    def code(self):\n        raise ValueError\nraise E('mine')",
      ].map((source) => code(source)),
      // User classes named like the sandbox's own verdicts (MemoryLimit only with evidence).
      ...CHILD_VERDICT_TYPES.map((type) =>
        code(`class ${type}(Exception):\n    pass\nraise ${type}('mine')`),
      ),
    ];
    const ODD_STRINGS = 10 + BACKEND_ERROR_TYPES.length;
    const DEEP_CHAIN = ODD_STRINGS + 4;
    const LYING_EXCEPTIONS = DEEP_CHAIN + 1;
    let results: BatchResult[];
    beforeAll(() => {
      results = runBatch(python, events, { runAs });
    });

    it("shows add_note() notes and exception-group members in tracebacks", () => {
      expect(responseOf(results[0]).error?.traceback).toContain("checked the input twice");
      const group = responseOf(results[1]).error!;
      expect(group.type).toBe("ExceptionGroup");
      expect(group.traceback).toContain("ValueError: first");
      expect(group.traceback).toContain("TypeError: second");
      expect(group.traceback).not.toMatch(/child\.py|policy\.py/);
    });

    it("shows the right source line when the code holds form feeds or U+2028", () => {
      const trace = responseOf(results[2]).error!.traceback!;
      expect(trace).toContain('File "<sandbox>", line 5');
      expect(trace).toContain("raise KeyError('on line 5')");
    });

    it("returns a huge emoji result truncated at the output cap, not as a crash", () => {
      const response = responseOf(results[3]);
      expect(response).toMatchObject({ ok: true, truncated: true, error: null });
      expect(Buffer.byteLength(response.result!)).toBeLessThanOrEqual(65536);
      expect(response.result!.startsWith("'\u{1F600}\u{1F600}")).toBe(true);
    });

    it("imports unicodedata, which the allowed modules use", () => {
      expect(responseOf(results[4])).toMatchObject({ ok: true, stdout: "LATIN SMALL LETTER E WITH ACUTE\n" });
    });

    it("escapes lone surrogates in messages and output, so the runtime's UTF-8 marshalling survives", () => {
      expect(responseOf(results[5]).error).toMatchObject({
        type: "ValueError",
        message: "\\ud800 lone surrogate",
      });
      expect(responseOf(results[6]).stdout).toBe("\\udcff \\ud800\n");
    });

    it("never lets user code claim an outcome only the sandbox can establish", () => {
      expect(responseOf(results[7]).error).toMatchObject({ type: "__main__.Timeout", message: "mine" });
    });

    it("never lets a user class pass for the sandbox's own verdicts (MemoryLimit, ModuleNotAllowed, OperationNotAllowed)", () => {
      CHILD_VERDICT_TYPES.forEach((type, i) => {
        expect(responseOf(results[DEEP_CHAIN + 5 + i]).error).toMatchObject({
          type: `__main__.${type}`,
          message: "mine",
        });
      });
    });

    it("never lets user code pass for the backend's own failures, which get 502 or 503 and retries", () => {
      BACKEND_ERROR_TYPES.forEach((type, i) => {
        expect(responseOf(results[10 + i]).error).toMatchObject({
          type: `__main__.${type}`,
          message: "mine",
        });
      });
    });

    it("reports what user code's own str subclasses and SystemExit codes say, never a crashed process", () => {
      expect(responseOf(results[ODD_STRINGS])).toMatchObject({ ok: true, result: "shown", error: null });
      expect(responseOf(results[ODD_STRINGS + 1]).error).toMatchObject({ type: "E", message: "said" });
      for (const i of [ODD_STRINGS + 2, ODD_STRINGS + 3])
        expect(responseOf(results[i])).toMatchObject({
          ok: false,
          error: { type: "SystemExit", message: "C" },
        });
    });

    it("reports an exception chained 100,000 deep as itself, with the most recent links, not as a crash", () => {
      const error = responseOf(results[DEEP_CHAIN]).error!;
      expect(error).toMatchObject({ type: "ValueError", message: "99999" });
      expect(error.traceback).toMatch(/ValueError: 99998\n.*direct cause.*\n[\s\S]*ValueError: 99999$/);
    });

    it("reports exceptions whose __class__, name or code lie or raise by their real class", () => {
      for (let i = LYING_EXCEPTIONS; i < LYING_EXCEPTIONS + 4; i++)
        expect(responseOf(results[i])).toMatchObject({ ok: false, error: { type: "E", message: "mine" } });
    });

    it("keeps error types short: an absurd class name becomes a plain Exception", () => {
      expect(responseOf(results[8]).error?.type).toBe("Exception");
    });

    it("offers exit() as the interactive interpreter does", () => {
      expect(responseOf(results[9])).toMatchObject({ ok: true, stdout: "done\n", error: null });
    });
  });

  describe("telling the truth about kills", () => {
    const env = { SANDBOX_MEMORY_MB: "128" };
    let results: BatchResult[];
    beforeAll(() => {
      results = runBatch(
        python,
        [
          // A SIGKILL from outside (the operator, the host's OOM killer) to a snippet using little memory.
          code("import uuid\nprint('started')\nuuid.sys.modules['signal'].raise_signal(9)"),
          // The same kill after the snippet filled its memory cap.
          code(
            "block = bytearray(125 * 1024 * 1024)\nimport uuid\nuuid.sys.modules['signal'].raise_signal(9)",
          ),
          code("print(25 * 47)"),
        ],
        { env, runAs },
      );
    });

    it("calls a kill without memory evidence ProcessCrashed, naming the signal", () => {
      const response = responseOf(results[0]);
      expect(response.stdout).toBe("started\n");
      expect(response.error?.type).toBe("ProcessCrashed");
      expect(response.error?.message).toContain("SIGKILL");
    });

    it("calls a kill at the memory cap MemoryLimit", () => {
      expect(responseOf(results[1]).error).toMatchObject({
        type: "MemoryLimit",
        message: expect.stringContaining("128 MB"),
      });
      expect(responseOf(results[2])).toMatchObject({ ok: true, stdout: "1175\n" });
    });
  });

  it("fails closed: when the kernel refuses the filter, no code runs and every call is a function error naming why", () => {
    // The refusal is simulated in the zygote (this kernel accepts the filter); everything else is real.
    const prelude = path.join(
      os.tmpdir(),
      `no-filter-prelude-${process.pid}-${_version}-${MODES.indexOf(runAs)}.py`,
    );
    fs.writeFileSync(
      prelude,
      "import errno\nfrom sandbox import child\ndef refuse(kernel, prepared):\n    raise OSError(errno.EINVAL, 'PR_SET_SECCOMP refused')\nchild.install_kernel_filter = refuse\n",
    );
    fs.chmodSync(prelude, 0o644);
    try {
      const results = runBatch(python, [code("print('ran')"), code("print('ran')")], { prelude, runAs });
      for (const r of results) {
        expect(r.response).toBeUndefined();
        expect(r.functionError?.type).toBe("SandboxUnavailable");
        expect(r.functionError?.message).toContain("PR_SET_SECCOMP refused");
      }
    } finally {
      fs.rmSync(prelude, { force: true });
    }
  });

  it("keeps the credentials' process out of reach: not dumpable, and the zygote's environment is empty", () => {
    const script = `
import sys, io, json, contextlib, ctypes
sys.path.insert(0, ${JSON.stringify(path.join(__dirname, "..", "..", "lambda"))})
with contextlib.redirect_stdout(io.StringIO()):
    import handler
zygote = handler._ZYGOTE.process.pid
print(json.dumps({"dumpable": ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), "zygoteEnviron": open(f"/proc/{zygote}/environ", "rb").read().decode() if ${process.getuid?.() === 0 && !runAs.setpriv ? "True" : "False"} else None}))
`;
    const [command, args] = runAs.setpriv
      ? ["setpriv", [...runAs.setpriv, python, "-c", script]]
      : [python, ["-c", script]];
    const out = JSON.parse(
      execFileSync(command, args, {
        encoding: "utf8",
        env: { PATH: process.env.PATH, ...CANARY },
        cwd: os.tmpdir(),
      }).trim(),
    );
    expect(out.dumpable).toBe(0);
    if (out.zygoteEnviron !== null) expect(out.zygoteEnviron).toBe("");
  });
});
