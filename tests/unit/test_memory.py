"""The allocator setting that keeps the pair model's batch buffers mapped between batches."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

#: a fresh process allocates and frees the buffers of 12 "batches" (8 x 3 MB, as a forward
#: pass of the pair model does) and prints the minor page faults of each batch
SCRIPT = """
import json, resource, sys, torch
from kgn_align.memory import keep_batch_buffers
assert keep_batch_buffers()
def batch():
    buffers = [torch.ones(750_000) for _ in range(8)]
    return sum(float(b[0]) for b in buffers)
faults = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    batch()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt thresholds are glibc's")
def test_batch_buffers_are_reused_instead_of_faulted_in_again():
    """Once the heap has grown to a batch's size, later batches reuse it: no page faults.
    Without the setting glibc may hand the heap back after every batch, and then every
    batch faults its ~5,800 pages in again (seen in two runs of three here)."""
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    faults = json.loads(out.stdout.strip().splitlines()[-1])
    assert faults[0] > 5_000  # the first batch does fault its 24 MB in: the count is real
    assert max(faults[4:]) < 50, faults
