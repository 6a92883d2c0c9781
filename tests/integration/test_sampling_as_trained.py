"""A model is scored on trees drawn as they were for its training: the checkpoint records
the caps, seed and weighting, and every snapshot taken for the model uses them, whatever
the config says now (how ``train --ablation uniform-sampling`` is evaluated fairly)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kgn_align import datasets, loaders
from kgn_align.graph import Graph
from kgn_align.snapshot import take
from kgn_align.training import TrainConfig
from kgn_align.workflows import train_model

pytestmark = pytest.mark.slow


def _trees(snapshot) -> list[tuple[str, list[str]]]:
    store = snapshot.target.store
    out = []
    for t in range(store.num_trees):
        slots = (store.slot_tree == t).nonzero(as_tuple=True)[0]
        out.append((store.keys[int(store.tree_seed[t])],
                    sorted(store.keys[int(e)] for e in store.slot_entity[slots])))
    return sorted(out)


def test_uniformly_trained_model_samples_uniformly(graph: Graph, namespace: str, tmp_path: Path) -> None:
    ds = datasets.read_tables("dblp_acm")
    pairs = ds.splits["train"][:150]
    keep = ({a for a, _, _ in pairs}, {b for _, b, _ in pairs})
    small = datasets.TableDataset(ds.name, ds.side_names,
                                  ([r for r in ds.records[0] if r.key in keep[0]],
                                   [r for r in ds.records[1] if r.key in keep[1]]),
                                  {"train": pairs}, ds.typed_attributes)
    loaders.load_tables(graph, small, prefix=namespace)
    config = loaders.preset_config(small, prefix=namespace)
    uniform = config.model_copy(update={"sampling": config.sampling.model_copy(update={"weighted": False, "k1": 3})})
    trained = train_model(graph, uniform, tmp_path / "models", train_config=TrainConfig(epochs=1, max_steps=5))
    assert trained.sampling == {"k1": 3, "k2": 10, "seed": 0, "weighted": False}
    as_trained = take(graph, config, model=trained)  # the config still says weighted, k1 = 10
    assert _trees(as_trained) == _trees(take(graph, uniform))
    assert _trees(as_trained) != _trees(take(graph, config))
    assert int(as_trained.target.store.slot_entity.numel()) < int(take(graph, config).target.store.slot_entity.numel())
    assert torch.equal(as_trained.source.store.slot_depth.bincount()[:1],
                       torch.tensor([as_trained.source.store.num_trees]))
