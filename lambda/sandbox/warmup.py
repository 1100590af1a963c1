"""Import the allowed modules once in the zygote, with the helpers they import lazily.

A forked child inherits everything imported here. It has to: a child can open no file, so a
module it did not inherit cannot be loaded at all. User code pays no import cost, and the
audit hook never has to admit an import it did not list: Counter.most_common imports heapq
on first use, datetime.strptime imports _strptime (and calendar, locale), re compiles
through re._parser, uuid.uuid3/5 reach hashlib, warnings reach linecache/tokenize...
Each call below exercises one such lazy path; a failure is ignored (a module may lack an
optional helper on some build) rather than stopping the function from starting.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Dict, Iterable, List, Tuple


def _lazy_paths() -> Tuple[Dict[str, Callable[[], object]], Callable[[], object]]:
    def collections_paths() -> object:
        import collections

        collections.Counter("abca").most_common(1)
        collections.namedtuple("P", "x y")(1, 2)
        return collections.OrderedDict(a=1).popitem()

    def datetime_paths() -> object:
        import datetime
        import time

        datetime.datetime.strptime("2024-01-02 03:04", "%Y-%m-%d %H:%M")
        time.strptime("2024", "%Y")
        datetime.datetime.now().astimezone().strftime("%c %Z")
        return datetime.datetime.fromisoformat("2024-01-02T03:04:05+00:00")

    def decimal_paths() -> object:
        import decimal

        return format(decimal.Decimal("1234.5678").quantize(decimal.Decimal("0.01")), ",.2f")

    def fractions_paths() -> object:
        import fractions

        return format(fractions.Fraction(3, 7).limit_denominator(5), "") + str(fractions.Fraction("1.5"))

    def random_paths() -> object:
        import random

        random.seed()
        return (random.random(), random.choice([1, 2]), random.sample(range(10), 3), random.gauss(0, 1))

    def statistics_paths() -> object:
        import statistics

        data = [1.0, 2.0, 4.0, 8.0]
        return (
            statistics.mean(data),
            statistics.median(data),
            statistics.stdev(data),
            statistics.correlation(data, data[::-1]),
            statistics.linear_regression(data, data),
            statistics.NormalDist(0, 1).cdf(0.5),
            statistics.quantiles(data, n=4),
            statistics.fmean(data),
            statistics.mode([1, 1, 2]),
        )

    def re_paths() -> object:
        import re

        return (re.sub(r"(a)(?P<x>b)", r"\g<x>\1", "ab"), re.findall(r"\w+", "a b"), re.escape("a.b"))

    def string_paths() -> object:
        import string

        return (
            string.Template("$a").substitute(a=1),
            string.Formatter().format("{0}", 1),
            string.capwords("a b"),
        )

    def uuid_paths() -> object:
        import uuid

        return (
            uuid.uuid4(),
            uuid.uuid1(),
            uuid.uuid3(uuid.NAMESPACE_DNS, "x"),
            uuid.uuid5(uuid.NAMESPACE_URL, "x"),
        )

    def hashlib_paths() -> object:
        import hashlib

        return (
            hashlib.sha256(b"x").hexdigest(),
            hashlib.md5(b"x").hexdigest(),
            hashlib.sha3_256(b"x").hexdigest(),
            hashlib.blake2b(b"x").hexdigest(),
            hashlib.new("sha1", b"x").hexdigest(),
            hashlib.pbkdf2_hmac("sha256", b"p", b"s", 1),
        )

    def base64_paths() -> object:
        import base64

        return (
            base64.b85encode(b"x"),
            base64.a85encode(b"x"),
            base64.b32encode(b"x"),
            base64.b64decode(b"eA=="),
        )

    def json_paths() -> object:
        import json

        return json.dumps(json.loads('{"a": [1, 2.5, null]}'), indent=2, sort_keys=True)

    def textwrap_paths() -> object:
        import textwrap

        return (
            textwrap.shorten("a b c d", 5),
            textwrap.fill("a b", 2),
            textwrap.dedent(" a"),
            textwrap.indent("a", " "),
        )

    def error_paths() -> object:
        # Warnings and tracebacks that user code triggers reach these on first use.
        import encodings.idna  # host names: a network call then reaches its audit event
        import linecache
        import tokenize
        import traceback
        import warnings

        return (encodings.idna, linecache, tokenize, traceback, warnings)

    def calendar_paths() -> object:
        import calendar

        return (
            calendar.month(2024, 2),
            calendar.monthrange(2024, 2),
            calendar.isleap(2024),
            calendar.day_name[0],
        )

    def csv_paths() -> object:
        import csv

        class Sink:
            def write(self, text: str) -> int:
                return len(text)

        csv.writer(Sink()).writerow(["a", 1])
        csv.DictWriter(Sink(), ["a"]).writeheader()
        return (
            list(csv.reader(["a,b", '"c,d",e'])),
            list(csv.DictReader(["a,b", "1,2"])),
            csv.Sniffer().sniff("a,b\n1,2\n"),
        )

    def difflib_paths() -> object:
        import difflib

        return (
            difflib.SequenceMatcher(None, "abcd", "bcde").ratio(),
            list(difflib.unified_diff(["a\n"], ["b\n"])),
            difflib.get_close_matches("appel", ["apple", "ape"]),
            difflib.ndiff(["a"], ["b"]),
            difflib.HtmlDiff().make_table(["a"], ["b"]),
        )

    def pprint_paths() -> object:
        import pprint

        return pprint.pformat({"a": [1, {"b": list(range(30))}]}, width=20)

    def html_paths() -> object:
        import html
        import html.entities
        import html.parser

        class Parser(html.parser.HTMLParser):
            pass

        Parser().feed("<p class='x'>a &amp; b</p>")
        return (html.escape("<a>"), html.unescape("&lt;&eacute;"))

    def secrets_paths() -> object:
        import secrets

        return (secrets.token_hex(4), secrets.token_urlsafe(4), secrets.choice("ab"), secrets.randbelow(10))

    def hmac_paths() -> object:
        import hmac

        return (
            hmac.new(b"k", b"m", "sha256").hexdigest(),
            hmac.digest(b"k", b"m", "sha1"),
            hmac.compare_digest("a", "a"),
        )

    def struct_paths() -> object:
        import struct

        return (
            struct.unpack("<If", struct.pack("<If", 1, 2.5)),
            struct.calcsize("@iq"),
            struct.Struct(">H").pack(1),
        )

    def zlib_paths() -> object:
        import zlib

        return (zlib.decompress(zlib.compress(b"x" * 100)), zlib.crc32(b"x"), zlib.adler32(b"x"))

    def binascii_paths() -> object:
        import binascii

        return (binascii.hexlify(b"x"), binascii.crc32(b"x"), binascii.a2b_base64(b"eA=="))

    def unicodedata_paths() -> object:
        import unicodedata

        return (
            unicodedata.name("é"),
            unicodedata.normalize("NFKD", "ﬁ"),
            unicodedata.category("A"),
            unicodedata.lookup("SNOWMAN"),
        )

    def time_paths() -> object:
        import time

        return (
            time.strftime("%Y", time.localtime(0)),
            time.gmtime(0),
            time.perf_counter(),
            time.process_time(),
            time.sleep(0),
            time.monotonic_ns(),
        )

    def graphlib_paths() -> object:
        import graphlib

        return list(graphlib.TopologicalSorter({"b": {"a"}}).static_order())

    def copy_paths() -> object:
        import copy

        return copy.deepcopy({"a": [1, {2}]})

    def reprlib_paths() -> object:
        import reprlib

        return reprlib.repr(list(range(100)))

    def colorsys_paths() -> object:
        import colorsys

        return (colorsys.rgb_to_hsv(0.1, 0.2, 0.3), colorsys.hls_to_rgb(0.1, 0.2, 0.3))

    def cmath_paths() -> object:
        import cmath

        return (cmath.sqrt(-1), cmath.phase(1j), cmath.exp(1j))

    def functools_paths() -> object:
        import functools

        cached = functools.lru_cache(maxsize=2)(lambda x: x)
        return (
            functools.reduce(lambda a, b: a + b, [1, 2]),
            cached(1),
            functools.partial(max, 1)(2),
            sorted([2, 1], key=functools.cmp_to_key(lambda a, b: a - b)),
        )

    def operator_paths() -> object:
        import operator

        return (
            operator.itemgetter(0)([1]),
            operator.attrgetter("real")(1),
            operator.methodcaller("upper")("a"),
        )

    def heapq_paths() -> object:
        import heapq

        return (heapq.nlargest(2, [1, 3, 2]), list(heapq.merge([1], [2])), heapq.heappushpop([1], 2))

    def bisect_paths() -> object:
        import bisect

        items = [1, 3]
        bisect.insort(items, 2)
        return (bisect.bisect_left(items, 2), items)

    return {
        "collections": collections_paths,
        "datetime": datetime_paths,
        "decimal": decimal_paths,
        "fractions": fractions_paths,
        "random": random_paths,
        "statistics": statistics_paths,
        "re": re_paths,
        "string": string_paths,
        "uuid": uuid_paths,
        "hashlib": hashlib_paths,
        "base64": base64_paths,
        "json": json_paths,
        "textwrap": textwrap_paths,
        "calendar": calendar_paths,
        "csv": csv_paths,
        "difflib": difflib_paths,
        "pprint": pprint_paths,
        "html": html_paths,
        "secrets": secrets_paths,
        "hmac": hmac_paths,
        "struct": struct_paths,
        "zlib": zlib_paths,
        "binascii": binascii_paths,
        "unicodedata": unicodedata_paths,
        "time": time_paths,
        "graphlib": graphlib_paths,
        "copy": copy_paths,
        "reprlib": reprlib_paths,
        "colorsys": colorsys_paths,
        "cmath": cmath_paths,
        "functools": functools_paths,
        "operator": operator_paths,
        "heapq": heapq_paths,
        "bisect": bisect_paths,
    }, error_paths


def _import_submodules(module: object) -> None:
    """Every submodule of an allowed package (json.decoder, html.parser...): `import html.parser`
    is allowed with `html`, and a child could not load it from a file."""
    import importlib

    path = getattr(module, "__path__", None)
    if path is None:
        return
    for info in pkgutil.iter_modules(path, getattr(module, "__name__", "") + "."):
        try:
            importlib.import_module(info.name)
        except Exception:
            pass


def warm(allowed_modules: Iterable[str]) -> List[str]:
    """Import every allowed module, its submodules, and walk its lazy paths; return the names
    that failed to import (a configured module this Python lacks: user imports will say so)."""
    failed: List[str] = []
    lazy, error_paths = _lazy_paths()
    for name in allowed_modules:
        try:
            module = importlib.import_module(name)
        except Exception:
            failed.append(name)
            continue
        _import_submodules(module)
        path = lazy.get(name)
        if path is not None:
            try:
                path()
            except Exception:
                pass
    error_paths()
    return failed
