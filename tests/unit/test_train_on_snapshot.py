"""Training and scoring from a snapshot with no graph server (``workflows.train_on_snapshot``):
what a machine without a server (the GPU one of issue 12) runs on a sample taken elsewhere.

The snapshot is a 300-pair slice of dbp15k_fr_en sampled in memory by the reference sampler's
neighbour lists (the same draw as the Cypher sampler). On a machine with CUDA the model trains and scores on
the GPU (``training.pick_device``), so this test is the CUDA path's check there.
"""

from __future__ import annotations

import numpy as np
import pytest

from kgn_align import loaders
from kgn_align.datasets import KGSide, local_name, read_kg
from kgn_align.errors import KgnAlignError
from kgn_align.preflight import MIN_ACCEPTED
from kgn_align.sampling.reference import lists_in_memory
from kgn_align.sampling.server import EntityTable
from kgn_align.sampling.trees import compose
from kgn_align.scoring import ModelScorer
from kgn_align.snapshot import SideSnapshot, Snapshot, feature_text
from kgn_align.training import TrainConfig, pick_device
from kgn_align.workflows import train_model, train_on_snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _side(side: KGSide, name_of: dict) -> SideSnapshot:
    ids = sorted(side.uris)
    keys = [side.uris[i] for i in ids]
    triples = [(side.uris[h], r, side.uris[t]) for h, r, t in side.triples]
    lists, _, relations = lists_in_memory(triples, 10, keys=keys)
    rows = np.arange(len(keys), dtype=np.int64)
    store = compose(rows, lists, lists, 10, 10, keys=keys, entity_type=np.zeros(len(keys), dtype=np.int64),
                    relations=relations, types=["Entity"])
    table = EntityTable(ids=keys, keys=keys, type=np.zeros(len(keys), dtype=np.int64), types=["Entity"],
                        aligned=np.ones(len(keys), dtype=bool))
    names = [feature_text([side.names.get(i), local_name(side.uris[i])]) for i in ids]
    return SideSnapshot(side=name_of[side.name], table=table, store=store, names=names, labels=names,
                        aligned_row={k: r for r, k in enumerate(keys)}, lists=lists)


@pytest.fixture(scope="module")
def fr_en() -> tuple[Snapshot, list[tuple[str, str, str]], list[tuple[str, str]]]:
    ds = read_kg("dbp15k_fr_en").slice(300)
    config = loaders.preset_config(ds)
    name_of = {config.source.name: config.source, config.target.name: config.target}
    snap = Snapshot(config=config, source=_side(ds.sides[0], name_of), target=_side(ds.sides[1], name_of))
    uri = [s.uris for s in ds.sides]
    labelled = [(uri[0][a], uri[1][b], "accepted") for a, b in ds.train_pairs]
    test = [(uri[0][a], uri[1][b]) for a, b in ds.test_pairs]
    return snap, labelled, test


def test_trains_and_scores_without_a_server(fr_en, tmp_path) -> None:
    snap, labelled, test = fr_en
    outside = [("http://fr.dbpedia.org/resource/Nowhere", test[0][1], "accepted"),
               (test[0][0], test[1][1], "rejected")]
    trained = train_on_snapshot(snap, labelled + outside, tmp_path / "models",
                                train_config=TrainConfig(epochs=2))
    assert (tmp_path / "models" / f"{trained.version}.pt").is_file()
    assert (tmp_path / "models" / "latest.pt").is_file()
    assert next(trained.model.parameters()).device.type == pick_device().type
    # the pair with a key outside the snapshot is left out; the rejected one is kept
    assert trained.metrics["accepted_pairs"] == len(labelled)
    assert trained.metrics["rejected_pairs"] == 1
    scorer = ModelScorer(snap, trained, k=10)
    sources = [a for a, _ in test]
    best = {}
    for p in scorer(sources):
        if p.source not in best or p.score > best[p.source].score:
            best[p.source] = p
    assert set(best) == set(sources)
    assert all(0.0 <= p.score <= 1.0 for p in best.values())
    hits1 = sum(best[a].target == b for a, b in test) / len(test)
    assert hits1 >= 0.8, hits1  # names alone find most of fr_en's counterparts


def test_too_few_accepted_pairs_in_the_snapshot(fr_en, tmp_path) -> None:
    snap, labelled, _ = fr_en
    few = labelled[:MIN_ACCEPTED - 1] + [("nowhere", "nothing", "accepted")] * 5
    with pytest.raises(KgnAlignError, match=f"only {MIN_ACCEPTED - 1} accepted pairs among the snapshot"):
        train_on_snapshot(snap, few, tmp_path / "models", train_config=TrainConfig(epochs=1))
    assert not (tmp_path / "models").exists()


def test_a_snapshot_of_another_configuration_is_refused(fr_en, tmp_path) -> None:
    """``train_model`` with a snapshot taken under another configuration would record the
    one configuration's reading in the checkpoint and have trained on the other's: refused
    before the graph is read (no server here)."""
    snap, _, _ = fr_en
    other = snap.config.model_copy(update={"same_as_type": "MATCHES"})
    with pytest.raises(ValueError, match="snapshot was taken with another configuration"):
        train_model(None, other, tmp_path / "models", snapshot=snap)  # type: ignore[arg-type]
    assert not (tmp_path / "models").exists()


def test_only_the_models_final_choices_are_said_without_v(fr_en, tmp_path, caplog) -> None:
    """evaluate scores the model and two baselines, each in two rounds (bootstrapping): a
    trial's evaluate printed six calibration formulas and six logit weights. What the model's
    edges are scored with is said at INFO (what a command shows); the baselines' and the first
    rounds' choices wait for -vv (DEBUG), where all of them are."""
    import logging

    from kgn_align.scoring import METHOD, VARIANTS

    snap, labelled, _ = fr_en
    trained = train_on_snapshot(snap, labelled, tmp_path / "models", train_config=TrainConfig(epochs=1))
    scorer = ModelScorer(snap, trained, k=10, labelled=[(a, b, r) for a, b, r in labelled])
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="kgn_align.scoring"):
        for variant in [METHOD] + [v for v in VARIANTS if v != METHOD]:
            (scorer if variant == METHOD else scorer.with_variant(variant)).alignment
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    calibrated = [level for level, text in said if text.startswith("calibrated on ")]
    weights = [level for level, text in said if text.startswith("the GNN's logit weight in the matching:")]
    # the model's two rounds (the second, after bootstrapping, is what its edges get), then
    # each baseline's two
    rounds = [logging.DEBUG, logging.INFO] + [logging.DEBUG] * 2 * (len(VARIANTS) - 1)
    assert calibrated == rounds, said
    assert weights.count(logging.INFO) == 1 and weights.index(logging.INFO) == 1, said
