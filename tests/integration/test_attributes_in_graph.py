"""Attributes as pair-model features, through the product on a real slice (iTunes-Amazon
songs: price, duration and release date, spelt differently by the two stores): read from
the server as typed values, compared per pair, recorded in the checkpoint, and checked
against the config before any slow work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kgn_align import datasets, loaders, preflight
from kgn_align.assignment import ATTRIBUTE_EVIDENCE
from kgn_align.attributes import DIFFERENT, EQUAL, LEVELS, levels, read_value
from kgn_align.errors import ConfigError, KgnAlignError
from kgn_align.explaining import explain_pair
from kgn_align.graph import Graph
from kgn_align.scoring import ModelScorer
from kgn_align.snapshot import take
from kgn_align.training import TrainConfig
from kgn_align.workflows import train_model
from kgn_align.writeback import labelled_pairs

pytestmark = pytest.mark.slow


@pytest.fixture()
def songs(graph: Graph, namespace: str):
    ds = datasets.read_tables("itunes_amazon")
    loaders.load_tables(graph, ds, prefix=namespace)
    return ds, loaders.preset_config(ds, prefix=namespace)


def test_attributes_travel_from_the_graph_into_the_model(graph: Graph, songs, tmp_path: Path) -> None:
    ds, config = songs
    assert config.attribute_properties == ("price", "time", "released")
    snapshot = take(graph, config)
    # typed values as the server returns them: "3:55" is 235 s; "17-Mar-08" and
    # "March 17 , 2008" are the same day on both sides
    for side, records in ((snapshot.source, ds.records[0]), (snapshot.target, ds.records[1])):
        for rec in records[:25]:
            row = side.aligned_row[rec.key]
            for j, prop in enumerate(config.attribute_properties):
                number, code = read_value(rec.attributes.get(prop))
                got = float(side.attributes.numeric[row, j])
                assert (got == number) or (got != got and number != number), (rec.key, prop)
                assert int(side.attributes.text[row, j]) == code
    trained = train_model(graph, config, tmp_path / "models", snapshot=snapshot,
                          train_config=TrainConfig(epochs=1, max_steps=20))
    assert trained.attributes == list(config.attribute_properties)
    assert trained.model.config.num_attributes == 3
    labelled = labelled_pairs(graph, config)
    scorer = ModelScorer(snapshot, trained, labelled=labelled)
    alignment = scorer.alignment
    assert bool(torch.isfinite(alignment.prob).all())
    # the attributes weigh in the calibrated score too, beside the pair model: Fellegi–Sunter
    # evidence learned from the accepted pairs the model trained on (matches) and the
    # candidate pairs (nearly all non-matches); the same duration is evidence for a match,
    # a different one against, and the calibration gives the evidence a positive weight
    weights = scorer.match_weights
    assert weights is not None and weights.table.shape == (3, LEVELS)
    time = config.attribute_properties.index("time")
    assert float(weights.table[time, EQUAL]) > 1.0 and float(weights.table[time, DIFFERENT]) < -1.0
    assert alignment.calibrator is not None and alignment.calibrator.names[-1] == ATTRIBUTE_EVIDENCE
    assert alignment.features is not None and alignment.features.size(1) == 4
    assert float(alignment.calibrator.weights[3]) > 0
    a_rows, b_rows = alignment.matrix.row, alignment.matrix.col
    own = levels(snapshot.source.attributes, snapshot.target.attributes, a_rows, b_rows)
    assert torch.allclose(alignment.features[:, 3], weights(own))
    a, b = next((a, b) for a, b, y in ds.splits["test"] if y)
    explained = explain_pair(graph, config, trained, a, b)
    # explain scores the pair with its attributes exactly as the backfill's pair model does
    logit = scorer.logits(snapshot.source.rows([a]), snapshot.target.rows([b]))
    assert explained.logit == pytest.approx(float(logit[0]), abs=1e-3)
    # and shows how the two records agree, property by property
    rec_a = next(r for r in ds.records[0] if r.key == a)
    rec_b = next(r for r in ds.records[1] if r.key == b)
    shown = {att["property"]: att for att in explained.attributes}
    assert list(shown) == list(config.attribute_properties)
    for prop, att in shown.items():
        same = read_value(rec_a.attributes.get(prop)) == read_value(rec_b.attributes.get(prop))
        assert (att["source"], att["target"]) == (rec_a.attributes.get(prop), rec_b.attributes.get(prop))
        assert (att["agreement"] == "equal") == (same and rec_a.attributes.get(prop) is not None)
        gap = abs(read_value(rec_a.attributes.get(prop))[0] - read_value(rec_b.attributes.get(prop))[0])
        if not same and gap <= 1:  # near: how near is said (one unit is also one dollar)
            assert att["agreement"] == f"within one unit ({gap:.4g} apart)", att

    # the ablation: the same config, a model that compares nothing
    plain = train_model(graph, config, tmp_path / "plain", snapshot=snapshot, attributes=False,
                        train_config=TrainConfig(epochs=1, max_steps=20))
    assert plain.attributes == [] and plain.model.config.num_attributes == 0
    assert ModelScorer(snapshot, plain).side_a.attributes is None

    # a config that no longer names what the model compares is refused, naming the property
    narrowed = config.model_copy(update={"attribute_properties": ("price", "time")})
    with pytest.raises(KgnAlignError, match="released"):
        ModelScorer(take(graph, narrowed), trained)


def test_a_misspelt_attribute_property_is_refused_before_any_work(graph: Graph, songs) -> None:
    _, config = songs
    wrong = config.model_copy(update={"attribute_properties": ("price", "tme")})
    with pytest.raises(ConfigError, match=r"attribute property 'tme' \(did you mean 'time'\?\)"):
        preflight.check(graph, wrong)
