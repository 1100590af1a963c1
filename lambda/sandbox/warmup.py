"""Import the allowed modules once in the warm parent, with the helpers they import lazily.

A forked child inherits everything imported here, so user code pays no import cost and the
audit hook never has to admit an import it did not list: Counter.most_common imports heapq
on first use, datetime.strptime imports _strptime (and calendar, locale), re compiles
through re._parser, uuid.uuid3/5 reach hashlib, warnings reach linecache/tokenize...
Each call below exercises one such lazy path; a failure is ignored (a module may lack an
optional helper on some build) rather than stopping the function from starting.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable, List


def _lazy_paths() -> List[Callable[[], object]]:
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

        return (string.Template("$a").substitute(a=1), string.Formatter().format("{0}", 1), string.capwords("a b"))

    def uuid_paths() -> object:
        import uuid

        return (uuid.uuid4(), uuid.uuid1(), uuid.uuid3(uuid.NAMESPACE_DNS, "x"), uuid.uuid5(uuid.NAMESPACE_URL, "x"))

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

        return (base64.b85encode(b"x"), base64.a85encode(b"x"), base64.b32encode(b"x"), base64.b64decode(b"eA=="))

    def json_paths() -> object:
        import json

        return json.dumps(json.loads('{"a": [1, 2.5, null]}'), indent=2, sort_keys=True)

    def textwrap_paths() -> object:
        import textwrap

        return (textwrap.shorten("a b c d", 5), textwrap.fill("a b", 2), textwrap.dedent(" a"), textwrap.indent("a", " "))

    def error_paths() -> object:
        # Warnings and tracebacks that user code triggers reach these on first use.
        import linecache
        import tokenize
        import traceback
        import warnings

        return (linecache, tokenize, traceback, warnings)

    return [
        collections_paths, datetime_paths, decimal_paths, fractions_paths, random_paths,
        statistics_paths, re_paths, string_paths, uuid_paths, hashlib_paths, base64_paths,
        json_paths, textwrap_paths, error_paths,
    ]


def warm(allowed_modules: Iterable[str]) -> List[str]:
    """Import every allowed module and walk its lazy paths; return the names that failed."""
    failed: List[str] = []
    for name in allowed_modules:
        try:
            importlib.import_module(name)
        except Exception:  # a configured module that does not exist: user imports will say so
            failed.append(name)
    for path in _lazy_paths():
        try:
            path()
        except Exception:
            pass
    return failed
