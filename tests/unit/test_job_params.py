"""Job parameters: the worker's rules (kgn_align.jobs) judge the same cases as the Neo4j
plugin's kgn.requestAlignment (plugin/src/test/resources/job_params_cases.json, also run by
JobParamsTest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgn_align import jobs
from kgn_align.config import CANDIDATES_PER_SOURCE
from kgn_align.writeback import Policy

CASES = json.loads((Path(__file__).resolve().parents[2] / "plugin" / "src" / "test" / "resources"
                    / "job_params_cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['kind']}:{c['params']}")
def test_shared_cases(case: dict) -> None:
    if case["valid"]:
        jobs.parse(case["kind"], case["params"])
    else:
        with pytest.raises(jobs.InvalidJobParams) as err:
            jobs.parse(case["kind"], case["params"])
        assert case["names"] in str(err.value)
        assert "\n" not in str(err.value)


def test_typed_values_and_defaults() -> None:
    p = jobs.parse("backfill", '{"threshold": 1, "policy": "one-to-one"}')
    assert isinstance(p, jobs.BackfillParams)
    assert p.threshold == 1.0 and p.policy is Policy.ONE_TO_ONE and p.k == CANDIDATES_PER_SOURCE and p.run_id is None
    assert jobs.parse("backfill", None) == jobs.BackfillParams()
    changed = jobs.parse("changed", {"nodeIds": ["a", "b"], "total": 5})
    assert isinstance(changed, jobs.ChangedParams) and not changed.complete
    assert jobs.parse("changed", {"nodeIds": ["a"]}).complete
