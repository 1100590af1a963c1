/**
 * The sandbox handler against real CPython processes, on every CPython 3.11+ of the machine.
 * Each interpreter gets a few warm handler processes (tests/lambda/harness.py) that run a
 * batch of events in order, the way a warm Lambda environment serves invocations.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { BatchResult, CANARY, code, runBatch, SandboxResponse } from "./sandbox-harness";
import { supportedPythons } from "./pythons";

const PYTHONS = supportedPythons();

function responseOf(result: BatchResult | undefined): SandboxResponse {
  if (!result?.response) throw new Error(`expected a response, got ${JSON.stringify(result)}`);
  return result.response;
}
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

describe.each(PYTHONS.map((p) => [p.version, p.path]))("sandbox on CPython %s", (_version, python) => {
  describe("contract examples and allowed modules", () => {
    const events = [
      ...SEED_EXAMPLES.map(([, src]) => code(src)),
      ...Object.values(MODULE_CALLS).map(([src]) => code(src)),
    ];
    let results: BatchResult[];
    beforeAll(() => {
      results = runBatch(python, events);
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
      results = runBatch(python, events);
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
      results = runBatch(python, events);
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
    const env = { SANDBOX_TIMEOUT_MS: "1500", SANDBOX_MAX_OUTPUT_BYTES: "1000", SANDBOX_MEMORY_MB: "128" };
    const sane = code("print(25 * 47)");
    const events = [
      code("print('before')\nwhile True:\n    pass"),
      sane,
      code("x = bytearray(1024 * 1024 * 1024)"),
      sane,
      code("chunks = []\nwhile True:\n    chunks.append('x' * 10_000_000)"),
      sane,
      // 200 KB of output against a 1000-byte cap, small enough to finish inside the 1.5 s limit on a loaded machine.
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
    ];
    beforeAll(() => {
      results = runBatch(python, events, env);
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
      results = runBatch(python, [...malformed.map(([, e]) => e), code("print(1)", 999999999)]);
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
      const results = runBatch(python, [code("print(1)"), code("print(2)")], { [name]: value });
      for (const r of results) {
        expect(r.functionError?.type).toBe("ConfigError");
        expect(r.functionError?.message).toContain(name);
      }
    });

    it("honours a custom allow-list", () => {
      const [allowed, refused] = runBatch(
        python,
        [code("import math\nmath.floor(2.5)"), code("import json")],
        { SANDBOX_ALLOWED_MODULES: "math" },
      );
      expect(responseOf(allowed).result).toBe("2");
      expect(responseOf(refused).error).toMatchObject({
        type: "ModuleNotAllowed",
        message: expect.stringContaining("allowed modules: math"),
      });
    });
  });

  it("environment layer: the child's OS-level environment block (/proc/self/environ) holds no secret", () => {
    const script = `
import os, sys
sys.path.insert(0, ${JSON.stringify(path.join(__dirname, "..", "..", "lambda"))})
from sandbox import runner, seccomp
seccomp.prepare()
before = open("/proc/self/environ", "rb").read()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    runner.empty_environment()
    raw = open("/proc/self/environ", "rb").read()
    os.write(w, b"child:" + raw.replace(b"\\0", b"") + b"|" + repr(dict(os.environ)).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
print((b"parent:" + before.replace(b"\\0", b" ") + b"\\n" + os.read(r, 100000)).decode())
`;
    const out = execFileSync(python, ["-c", script], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, ...CANARY },
    });
    const [parent, child] = out.split("\n");
    expect(parent).toContain(CANARY.AWS_SECRET_ACCESS_KEY); // it was there to steal
    expect(child).toBe("child:|{}");
  });

  it("warm parent layer: the handler's process is not dumpable, so /proc/<pid>/environ is root-only", () => {
    const script = `
import sys, io, contextlib, ctypes
sys.path.insert(0, ${JSON.stringify(path.join(__dirname, "..", "..", "lambda"))})
with contextlib.redirect_stdout(io.StringIO()):
    import handler
print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))
`;
    expect(execFileSync(python, ["-c", script], { encoding: "utf8" }).trim()).toBe("0");
  });

  it("still runs on the other layers when the kernel refuses the filter, and logs that once", () => {
    // The refusal is simulated (this kernel accepts the filter); everything else is real.
    const script = `
import sys, json
sys.path.insert(0, ${JSON.stringify(path.join(__dirname, "..", "..", "lambda"))})
from sandbox import seccomp
seccomp.install_syscall_filter = lambda pid: "PR_SET_SECCOMP failed (errno 22)"
import handler
a = handler.handler({"code": "print(25 * 47)"})
b = handler.handler({"code": "import random\\nrandom._os.system('true')"})
print(json.dumps([a, b]))
`;
    const lines = execFileSync(python, ["-c", script], { encoding: "utf8" }).trim().split("\n");
    const [a, b] = JSON.parse(lines.pop()!) as SandboxResponse[];
    expect(a).toMatchObject({ ok: true, stdout: "1175\n" });
    expect(b!.error?.type).toBe("OperationNotAllowed");
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "WARN");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].reason).toContain("PR_SET_SECCOMP");
  });

  it("kernel layer: the seccomp filter alone refuses sockets, processes, exec and file writes", () => {
    const script = `
import os, sys, json, socket
sys.path.insert(0, ${JSON.stringify(path.join(__dirname, "..", "..", "lambda"))})
from sandbox import seccomp
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    problem = seccomp.install_syscall_filter(os.getpid())
    out = {"problem": problem}
    for name, attempt in [
        ("socket", lambda: socket.socket()),
        ("fork", lambda: os.fork()),
        ("exec", lambda: os.execv("/bin/true", ["true"])),
        ("write", lambda: open(${JSON.stringify(path.join(os.tmpdir(), "seccomp-marker-"))} + str(os.getpid()), "w")),
        ("kill parent", lambda: os.kill(os.getppid(), 0)),
    ]:
        try:
            attempt()
            out[name] = "allowed"
        except OSError as e:
            out[name] = e.errno
    out["read"] = len(open("/etc/hostname").read()) >= 0
    os.write(w, json.dumps(out).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
print(os.read(r, 10000).decode())
`;
    const out = JSON.parse(execFileSync(python, ["-c", script], { encoding: "utf8" }));
    expect(out).toEqual({
      problem: null,
      socket: 1,
      fork: 1,
      exec: 1,
      write: 1,
      "kill parent": 1,
      read: true,
    });
  });
});

// The kernel's numbers (include/uapi/asm-generic/unistd.h, used by arm64), written out here
// independently of lambda/sandbox/seccomp.py, which the Lambda relies on for arm64.
const ASM_GENERIC_UNISTD: Record<string, number> = {
  __NR_socket: 198,
  __NR_socketpair: 199,
  __NR_bind: 200,
  __NR_listen: 201,
  __NR_accept: 202,
  __NR_connect: 203,
  __NR_accept4: 242,
  __NR_execve: 221,
  __NR_execveat: 281,
  __NR_clone: 220,
  __NR_clone3: 435,
  __NR_ptrace: 117,
  __NR_process_vm_readv: 270,
  __NR_process_vm_writev: 271,
  __NR_kcmp: 272,
  __NR_pidfd_open: 434,
  __NR_pidfd_getfd: 438,
  __NR_pidfd_send_signal: 424,
  __NR_tkill: 130,
  __NR_kill: 129,
  __NR_tgkill: 131,
  __NR_setns: 268,
  __NR_unshare: 97,
  __NR_mount: 40,
  __NR_umount2: 39,
  __NR_pivot_root: 41,
  __NR_chroot: 51,
  __NR_bpf: 280,
  __NR_perf_event_open: 241,
  __NR_userfaultfd: 282,
  __NR_keyctl: 219,
  __NR_add_key: 217,
  __NR_request_key: 218,
  __NR_init_module: 105,
  __NR_finit_module: 273,
  __NR_delete_module: 106,
  __NR_kexec_load: 104,
  __NR_kexec_file_load: 294,
  __NR_reboot: 142,
  __NR_swapon: 224,
  __NR_swapoff: 225,
  __NR_io_uring_setup: 425,
  __NR_io_uring_enter: 426,
  __NR_io_uring_register: 427,
  __NR_open_by_handle_at: 265,
  __NR_name_to_handle_at: 264,
  __NR_setsid: 157,
  __NR_setpgid: 154,
  __NR_personality: 92,
  __NR_acct: 89,
  __NR_openat: 56,
  __NR_openat2: 437,
  __NR_mkdirat: 34,
  __NR_unlinkat: 35,
  __NR_renameat: 38,
  __NR_renameat2: 276,
  __NR_linkat: 37,
  __NR_symlinkat: 36,
  __NR_fchmod: 52,
  __NR_fchmodat: 53,
  __NR_fchownat: 54,
  __NR_fchown: 55,
  __NR3264_truncate: 45,
  __NR3264_ftruncate: 46,
  __NR_mknodat: 33,
  __NR_utimensat: 88,
  __NR_setxattr: 5,
  __NR_lsetxattr: 6,
  __NR_fsetxattr: 7,
  __NR_removexattr: 14,
  __NR_lremovexattr: 15,
  __NR_fremovexattr: 16,
  __NR_fanotify_init: 262,
  __NR_memfd_create: 279,
  __NR_move_mount: 429,
  __NR_open_tree: 428,
  __NR_fsopen: 430,
  __NR_fsmount: 432,
};

describe("seccomp syscall tables", () => {
  const tables = JSON.parse(
    execFileSync(
      "python3",
      [
        "-c",
        `import sys, json; sys.path.insert(0, ${JSON.stringify(path.join(__dirname, "..", "..", "lambda"))}); from sandbox import seccomp as s; print(json.dumps({"denied": s.DENIED_SYSCALLS, "open": s.OPEN_SYSCALLS, "self": s.SELF_ONLY_SYSCALLS}))`,
      ],
      { encoding: "utf8" },
    ),
  ) as {
    denied: Record<string, Record<string, number>>;
    open: Record<string, Record<string, [number, number]>>;
    self: Record<string, Record<string, number>>;
  };

  it("uses the kernel's asm-generic/unistd.h numbers for every aarch64 syscall it filters", () => {
    const arm = {
      ...tables.denied.aarch64!,
      ...tables.self.aarch64!,
      ...Object.fromEntries(Object.entries(tables.open.aarch64!).map(([k, v]) => [k, v[0]])),
    };
    for (const [name, nr] of Object.entries(arm)) {
      const kernel = ASM_GENERIC_UNISTD[`__NR_${name}`] ?? ASM_GENERIC_UNISTD[`__NR3264_${name}`];
      expect([name, nr]).toEqual([name, kernel]);
    }
  });

  it("has no x86-only syscall (fork, vfork, open...) in the aarch64 table", () => {
    for (const name of ["fork", "vfork", "open", "creat", "mkdir", "unlink", "rename"])
      expect(tables.denied.aarch64![name]).toBeUndefined();
  });

  const x86Header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
  (fs.existsSync(x86Header) ? it : it.skip)(
    "matches this machine's x86_64 kernel header for every x86_64 syscall it filters",
    () => {
      const header = fs.readFileSync(x86Header, "utf8");
      const x86 = {
        ...tables.denied.x86_64!,
        ...tables.self.x86_64!,
        ...Object.fromEntries(Object.entries(tables.open.x86_64!).map(([k, v]) => [k, v[0]])),
      };
      for (const [name, nr] of Object.entries(x86)) {
        const match = new RegExp(`#define __NR_${name}\\s+(\\d+)\\b`).exec(header);
        expect([name, match ? Number(match[1]) : undefined]).toEqual([name, nr]);
      }
    },
  );
});
