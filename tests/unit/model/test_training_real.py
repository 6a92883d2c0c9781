"""A short training run on a small real slice of DBP15K fr-en learns something.

Reads ../shared/datasets (read-only); skipped where the data is not there.
"""

import logging

import numpy as np
import pytest
import torch

from benchmarks.kg_data import load_kg, sample_trees
from kgn_align.evaluation import rank, summarise
from kgn_align.features import ngram_features
from kgn_align.model.inputs import SideInputs, build_vocabulary
from kgn_align.model.pair_model import ModelConfig
from kgn_align.training import TrainConfig, train


N_TRAIN, N_TEST = 400, 300


@pytest.fixture(scope="module")
def fr_en_slice():
    # native (French vs English URI) names: weaker than the translations, so that there is
    # room above the names-only floor for neighbourhood evidence to show
    data = load_kg("dbp15k_fr_en", names="native")
    gold = np.concatenate([data.train, data.test])[: N_TRAIN + N_TEST]
    n1 = len(data.names[0])
    feats = ngram_features(data.names[0] + data.names[1], dim=256)
    stores = [sample_trees(len(data.names[s]), data.triples[s], k1=8, k2=3, seed=s, seeds=gold[:, s]) for s in (0, 1)]
    rel = build_vocabulary(*(s.relations for s in stores))
    a = SideInputs.build(stores[0], feats[:n1], rel, ["Entity"])
    b = SideInputs.build(stores[1], feats[n1:], rel, ["Entity"])
    return a, b, torch.as_tensor(gold[:N_TRAIN]), torch.as_tensor(gold[N_TRAIN:]), len(rel)


def test_short_training_run_learns(fr_en_slice, caplog, one_torch_thread):
    a, b, train_pairs, test, n_rel = fr_en_slice
    cfg = TrainConfig(epochs=3, batch_size=16, hard_negatives=8, random_negatives=3, hard_pool=20,
                      valid_candidates=10, patience=5, log_every=5, seed=0)
    with caplog.at_level(logging.INFO, logger="kgn_align.training"):
        res = train(ModelConfig(feature_dim=256, num_relations=n_rel, hidden=32), a, b, train_pairs, cfg)
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert any("valid Hits@1" in r.getMessage() for r in caplog.records)

    pool = test[:, 1]
    floor = summarise(rank(None, a, b, test[:, 0], pool, k=10), test[:, 1])
    learned = summarise(rank(res.model, a, b, test[:, 0], pool, k=10), test[:, 1])
    assert learned["hits@1"] > floor["hits@1"], (learned, floor)
    assert 0.0 <= float(res.model.calib_scale) and learned["pr_auc"] > 0.5


def test_rejected_pairs_train_as_non_matches(fr_en_slice, one_torch_thread):
    """Pairs a person rejected score lower after training with them than without (here:
    true matches marked rejected, the hardest case: names and neighbours agree)."""
    from kgn_align.training import score_pairs

    a, b, train_pairs, test, n_rel = fr_en_slice
    rejected = test[:40]
    cfg = TrainConfig(epochs=2, batch_size=16, hard_negatives=8, random_negatives=3, hard_pool=20,
                      valid_candidates=10, patience=5, seed=0)
    model_config = ModelConfig(feature_dim=256, num_relations=n_rel, hidden=32)
    plain = train(model_config, a, b, train_pairs, cfg).model
    told = train(model_config, a, b, train_pairs, cfg, negatives=rejected).model
    before, _ = score_pairs(plain, a, b, rejected[:, 0], rejected[:, 1])
    after, _ = score_pairs(told, a, b, rejected[:, 0], rejected[:, 1])
    assert float(after.mean()) < float(before.mean()) - 0.5, (float(after.mean()), float(before.mean()))
    others = test[40:]
    kept, _ = score_pairs(told, a, b, others[:, 0], others[:, 1])
    assert float(kept.mean()) > float(after.mean())  # only what was rejected went down
