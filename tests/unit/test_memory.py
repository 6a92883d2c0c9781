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


#: a fresh process under the setting fills the heap with 200 MB of 1 MB blocks, frees all
#: but the last (which pins the heap's top: glibc's own trimming cannot hand the rest back)
#: and prints its resident size before and after release_free_memory, in kB
RELEASE = """
import json, torch
from kgn_align.memory import keep_batch_buffers, release_free_memory
assert keep_batch_buffers()
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
blocks = [torch.ones(250_000) for _ in range(200)]
last = blocks[-1]
del blocks
before = rss()
released = release_free_memory()
print(json.dumps([before, rss(), released, float(last[0])]))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_free_heap_pages_are_handed_back_between_phases():
    """What a first alignment round leaves free in the heap is not counted again under the
    second round's peak."""
    out = subprocess.run([sys.executable, "-c", RELEASE], capture_output=True, text=True, check=True)
    before, after, released, _ = json.loads(out.stdout.strip().splitlines()[-1])
    assert released
    assert before - after > 150_000, (before, after)  # kB: most of the 199 freed MB
