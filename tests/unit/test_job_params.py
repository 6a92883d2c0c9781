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


def test_bad_values_are_said_in_plain_words() -> None:
    """The worker records these in j.error: the plugin's words, not pydantic's
    ('Input should be less than or equal to 1', a new user's trial)."""
    cases = {("backfill", '{"threshold": 5}'): "threshold: must be at most 1.0 (got 5)",
             ("backfill", '{"k": 0}'): "k: must be at least 1 (got 0)",
             ("changed", '{"nodeIds": []}'): "nodeIds: must list at least 1 item(s) (got [])",
             # an unknown key with its near miss, else the kind's keys (a trial got neither)
             ("backfill", '{"treshold": 0.7}'): "unknown key 'treshold' (did you mean 'threshold'?)",
             ("backfill", '{"zzz": 1}'): "unknown key 'zzz' (known: k, policy, run_id, threshold)"}
    for (kind, params), said in cases.items():
        with pytest.raises(jobs.InvalidJobParams) as err:
            jobs.parse(kind, params)
        assert str(err.value) == f"bad params for a {kind!r} job: {said}"


def test_params_that_are_not_json_are_shown() -> None:
    """Text that is no JSON is quoted back with the way to write it (a trial's
    'threshold=0.5' got only Python's 'Expecting value: line 1 column 1 (char 0)')."""
    with pytest.raises(jobs.InvalidJobParams) as err:
        jobs.parse("backfill", "threshold=0.5")
    assert str(err.value).startswith("params is not a JSON object: got 'threshold=0.5' (Expecting value")
    assert str(err.value).endswith("write it as JSON, e.g. '{\"threshold\": 0.8}'")


def test_typed_values_and_defaults() -> None:
    p = jobs.parse("backfill", '{"threshold": 1, "policy": "one-to-one"}')
    assert isinstance(p, jobs.BackfillParams)
    assert p.threshold == 1.0 and p.policy is Policy.ONE_TO_ONE and p.k == CANDIDATES_PER_SOURCE and p.run_id is None
    assert jobs.parse("backfill", None) == jobs.BackfillParams()
    changed = jobs.parse("changed", {"nodeIds": ["a", "b"], "total": 5})
    assert isinstance(changed, jobs.ChangedParams) and not changed.complete
    assert jobs.parse("changed", {"nodeIds": ["a"]}).complete


def test_jobs_that_do_not_say_take_the_workers_threshold_and_policy() -> None:
    """Change capture queues 'changed' jobs with node ids only: they must not fall back to
    0.5 / best when the worker runs with the settings of the user's backfills."""
    from kgn_align.cli import job_options

    captured = jobs.parse("changed", '{"nodeIds": ["4:abc:1"]}')
    opts = job_options("j1", captured, 0.3, Policy.ONE_TO_ONE)
    assert (opts.threshold, opts.policy, opts.run_id) == (0.3, Policy.ONE_TO_ONE, "job-j1")
    said = jobs.parse("backfill", '{"threshold": 0.5, "policy": "best", "run_id": "nightly"}')
    opts = job_options("j2", said, 0.3, Policy.ONE_TO_ONE)
    assert (opts.threshold, opts.policy, opts.run_id) == (0.5, Policy.BEST, "nightly")


def test_a_job_on_a_finished_run_says_it_did_nothing() -> None:
    from types import SimpleNamespace

    from kgn_align.cli import job_line

    outcome = SimpleNamespace(id="j3", kind="backfill", status="done", seconds=0.8, error=None,
                              result={"run_id": "nightly", "status": "already-done", "created": 0})
    assert "run 'nightly' was already complete: nothing aligned" in job_line(outcome)
    outcome.result["status"] = "done"
    assert "already complete" not in job_line(outcome)
    # a failure queued again for another try is said as one (a trial read 'queued in 85.60 s')
    retried = SimpleNamespace(id="j5", kind="backfill", status="queued", seconds=85.6, result={},
                              error="the graph server is away")
    assert job_line(retried) == ("job j5 backfill: failed after 85.60 s, queued to be tried again: "
                                 "the graph server is away")


def test_a_changed_job_that_touches_no_source_says_so() -> None:
    """The plugin queues a 'changed' job for every write in the database; one on another
    graph's nodes ends done with no edges, and its line says why (not a silent 0)."""
    from types import SimpleNamespace

    from kgn_align.cli import job_line

    untouched = {"created": 0, "updated": 0, "retracted": 0, "entities": 0, "sources": []}
    outcome = SimpleNamespace(id="j4", kind="changed", status="done", seconds=0.1, error=None,
                              result=untouched)
    assert job_line(outcome).endswith("0 retracted (its nodes are no source entity and move none: "
                                      "nothing to re-align)")
    outcome.result = {**untouched, "entities": 2, "sources": ["a", "b"]}
    assert "nothing to re-align" not in job_line(outcome)
    # a 'changed' job that re-aligned the whole side (more changes than listed) reports no sources
    outcome.result = {"created": 0, "updated": 0, "retracted": 0, "entities": 0}
    assert "nothing to re-align" not in job_line(outcome)
    # nodes on a side without the key are named as such, not as another graph's
    outcome.result = {**untouched, "keyless": 2}
    assert job_line(outcome).endswith("0 retracted (2 of its nodes lie on a side without the key property: "
                                      "not aligned until they get one)")


def test_changed_jobs_merge_into_one_with_their_nodes_once() -> None:
    """Captured changes queue a job per transaction; jobs that ask for the same settings run
    as one: their nodes together, each once; other settings, too many nodes, or one
    incomplete list (the whole side then) are kept apart or said so."""
    a, b = {"nodeIds": ["n1", "n2"]}, {"nodeIds": ["n2", "n3"]}
    assert jobs.merge_changed(a, b) == {"nodeIds": ["n1", "n2", "n3"]}
    assert jobs.parse("changed", jobs.merge_changed(a, b)).complete
    assert jobs.merge_changed(a, {"nodeIds": ["n3"], "threshold": 0.9}) is None
    assert jobs.merge_changed({"nodeIds": ["n1"], "threshold": 0.9}, {"nodeIds": ["n3"], "threshold": 0.9}) \
        == {"nodeIds": ["n1", "n3"], "threshold": 0.9}
    many = {"nodeIds": [f"m{i}" for i in range(jobs.MAX_NODE_IDS)]}
    assert jobs.merge_changed(many, a) is None  # more than a job lists: not merged
    incomplete = jobs.merge_changed(a, {"nodeIds": ["n9"], "total": 40})
    assert incomplete is not None and not jobs.parse("changed", incomplete).complete
    with pytest.raises(jobs.InvalidJobParams):
        jobs.merge_changed(a, {"nodeIds": []})


def test_a_worker_scope_names_its_sides_and_nothing_else() -> None:
    """Workers of one configuration share a scope (its jobs); another pair of graphs, or the
    same graphs the other way round, is another scope; settings that do not choose the sides
    (thresholds, sampling) leave it as it is."""
    from kgn_align.config import AlignConfig

    def config(source: str, target: str, **more) -> AlignConfig:
        return AlignConfig.model_validate({
            "source": {"name": source, "label": "Movie", "property": "graph", "value": f"ns/{source}"},
            "target": {"name": target, "label": "Film", "property": "graph", "value": f"ns/{target}"},
            **more})

    movies = jobs.scope_of(config("imdb", "freebase"))
    assert movies.name == "imdb (ns/imdb) -> freebase (ns/freebase)"
    assert movies.graphs == ("ns/imdb", "ns/freebase")
    assert len(movies.key) == 12 and int(movies.key, 16) >= 0  # hex: copies' ids stay run ids
    assert jobs.scope_of(config("imdb", "freebase", sampling={"k1": 5})) == movies
    assert jobs.scope_of(config("itunes", "amazon")).key != movies.key
    swapped = AlignConfig.model_validate({"source": config("imdb", "freebase").target.model_dump(),
                                          "target": config("imdb", "freebase").source.model_dump()})
    assert jobs.scope_of(swapped).key != movies.key
