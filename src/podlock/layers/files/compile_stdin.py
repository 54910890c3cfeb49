"""Compile the files named on stdin to bytecode; print how many compiled and how many did not.

Run by ``podlock.layers.install`` as ``python -I -c <this file's text>`` with the image's
CPython X.Y, so it must run on any Python 3 the image may have. Each stdin line is
``HOST_PATH\\0IMAGE_PATH``: the file to compile and the path recorded in its ``.pyc``.
"""

import py_compile
import sys

ok = bad = 0
for line in sys.stdin:
    host, image = line.rstrip("\n").split("\0")
    try:
        py_compile.compile(
            host,
            dfile=image,
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        ok += 1
    except py_compile.PyCompileError:
        bad += 1  # as pip does: a file that does not compile (py2 syntax, templates) is skipped
print(ok, bad)
