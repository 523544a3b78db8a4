"""Named kill points for crash tests: ``SYNTHGEN_KILL_AT=<point>`` makes the process SIGKILL itself there.

Crash-safety claims (merge, resume) are tested by killing a real process at a named moment instead of
after a random delay, so each test knows where the kill landed whatever the machine's load.  Before
dying the process writes ``synthgen-kill-point: <point>`` to stderr, which the test checks.  With the
variable unset (every real run) :func:`checkpoint` is one dictionary lookup.

Points: ``merge.before-staging``, ``merge.mid-write``, ``merge.before-publish``,
``merge.after-publish`` (version folder in place, ``CURRENT`` not yet moved), ``stage.mid-commit``
(a sample file written, its manifest line not), ``stage.before-final`` (all samples staged, the final
dataset not yet written), ``stage.after-final`` (dataset renamed into place, stage not yet removed).
A point may carry a count: ``stage.mid-commit@3`` fires on the third time it is reached.
"""
from __future__ import annotations

import os
import signal
import sys

ENV = "SYNTHGEN_KILL_AT"
_seen: dict[str, int] = {}


def checkpoint(point: str) -> None:
    """SIGKILL this process if ``SYNTHGEN_KILL_AT`` names ``point`` (and its count is reached)."""
    want = os.environ.get(ENV)
    if not want:
        return
    name, _, count = want.partition("@")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] < int(count or 1):
        return
    sys.stderr.write(f"synthgen-kill-point: {point}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
