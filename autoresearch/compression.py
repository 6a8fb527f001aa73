"""The size of a file as it is served: raw, gzip or brotli.

gzip at level 9 with no name and no timestamp in its header, so the same bytes always give
the same size (what size-limit and bundlewatch report); brotli at quality 11, through the
optional ``brotli`` package (``pip install 'autoresearch[brotli]'``).
"""

from __future__ import annotations

import gzip
import importlib

from autoresearch.schema import COMPRESSIONS
from autoresearch.errors import EnvironmentProblem

METHODS = COMPRESSIONS
BROTLI_EXTRA = "pip install 'autoresearch[brotli]'"


def require(method: str) -> None:
    """Raise EnvironmentProblem when ``method`` needs a package that is not installed."""
    if method == "brotli":
        _brotli()


def compressed_size(data: bytes, method: str) -> int:
    if method == "gzip":
        return len(gzip.compress(data, compresslevel=9, mtime=0))
    if method == "brotli":
        return len(_brotli().compress(data, quality=11))
    return len(data)


def _brotli():
    try:
        return importlib.import_module("brotli")
    except ImportError:
        raise EnvironmentProblem("size_compression 'brotli' needs the brotli package, which is "
                                 f"not installed: {BROTLI_EXTRA}") from None
