"""Subprocess for the merge crash tests: load, say 'ready', wait for 'go', merge, print the result.

Run with ``SYNTHGEN_KILL_AT=<point>`` to die at a named point of the merge (``synthgen.faults``).
"""
import json
import sys

import numpy as np

from synthgen.io.imagefolder import read_imagefolder
from synthgen.merge import merge
from synthgen.sample import Provenance, Sample


def synthetic(n, tag):
    out = []
    for i in range(n):
        img = np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        prov = Provenance("tests.fake", "1", "0" * 64, 0, "a", i, ("p",), {}, {})
        out.append(Sample(f"{tag}-{i:04d}", img, "a" if i % 2 else "b", provenance=prov))
    return out


if __name__ == "__main__":
    real_dir, into, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
    real = read_imagefolder(real_dir)
    syn = synthetic(n, tag)
    report = {"classes": {"a": {"verdict": "pass"}, "b": {"verdict": "pass"}}}
    print("ready", flush=True)
    sys.stdin.readline()
    res = merge(into, real, syn, report, report_path=None, lock_timeout=timeout)
    print(json.dumps({"version": res["version"], "new_version": res["new_version"], "added": res["added"]}), flush=True)
