import logging
import math

import pytest
import torch

from kgn_align.model.inputs import SideInputs, build_vocabulary
from kgn_align.model.pair_model import EntityEncoder, ModelConfig, PairModel, platt_targets
from kgn_align.errors import CheckpointError
from kgn_align.training import checkpoint_version, load_checkpoint, model_version, save_checkpoint

from .handmade import IN, OUT, make_store


def sides():
    store_a = make_store(6, [
        (0, [(0, OUT, 1, [(1, IN, 2)]), (1, IN, 3, [])]),
        (4, [(2, OUT, 5, [(0, OUT, 1), (0, IN, 3)])]),
        (5, []),
    ])
    store_b = make_store(5, [
        (0, [(1, OUT, 1, []), (1, OUT, 2, [(0, IN, 3)])]),
        (4, [(0, IN, 3, [])]),
    ], num_relations=2)
    torch.manual_seed(0)
    rel = build_vocabulary([f"a{r}" for r in store_a.relations], store_b.relations)
    store_a.relations = [f"a{r}" for r in store_a.relations]
    a = SideInputs.build(store_a, torch.nn.functional.normalize(torch.randn(6, 16), dim=-1), rel, ["Entity"])
    b = SideInputs.build(store_b, torch.nn.functional.normalize(torch.randn(5, 16), dim=-1), rel, ["Entity"])
    return a, b, len(rel)


VARIANTS = [{}, {"cross_attention": False}, {"self_attention": False}, {"gnn": False}]


@pytest.mark.parametrize("flags", VARIANTS, ids=["full", "no_cross", "no_self", "names_only"])
def test_forward_shapes_probabilities_and_gradients(flags):
    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8, dropout=0.0, **flags))
    ea, eb = torch.tensor([0, 4, 5, 0]), torch.tensor([0, 4, 0, 4])
    out = model(a.batch(ea), b.batch(eb), a.features, b.features, return_attention=True)
    assert out.logit.shape == out.prob.shape == (4,)
    assert ((out.prob >= 0) & (out.prob <= 1)).all()
    out.logit.sum().backward()
    grads = [p.grad for n, p in model.named_parameters() if "type_emb" not in n]
    assert all(g is not None for g in grads)
    n_layers = 0 if flags.get("gnn") is False else 2
    assert len(out.attention_a) == len(out.attention_b) == n_layers
    assert len(out.cross_a) == (n_layers if flags.get("cross_attention", True) else 0)


def test_pairs_need_equal_tree_counts():
    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    with pytest.raises(ValueError):
        model(a.batch(torch.tensor([0, 4])), b.batch(torch.tensor([0])), a.features, b.features)


def test_pair_scores_do_not_depend_on_batch_neighbours():
    """A pair's score must not leak across pairs in a batch (cross-graph terms stay within a pair)."""
    a, b, n_rel = sides()
    torch.manual_seed(1)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8)).eval()
    alone = model(a.batch(torch.tensor([0])), b.batch(torch.tensor([0])), a.features, b.features).logit
    mixed = model(a.batch(torch.tensor([4, 0, 5])), b.batch(torch.tensor([4, 0, 0])), a.features, b.features).logit
    torch.testing.assert_close(mixed[1:2], alone)


def test_scored_logits_do_not_depend_on_the_batch_size():
    """``score_pairs`` cuts the pairs into forward passes of ``batch_pairs``: any cut gives
    the same logits (the default cut was chosen for speed alone)."""
    from kgn_align.training import score_pairs

    a, b, n_rel = sides()
    torch.manual_seed(4)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    rows_a, rows_b = torch.tensor([0, 0, 4, 5, 4, 0, 5]), torch.tensor([0, 4, 4, 0, 0, 4, 0])
    whole, _ = score_pairs(model, a, b, rows_a, rows_b, batch_pairs=64)
    for size in (1, 3, None):  # None: the device's default
        cut, _ = score_pairs(model, a, b, rows_a, rows_b, batch_pairs=size)
        torch.testing.assert_close(cut, whole)


def test_pairs_are_scored_beside_pairs_of_like_size_and_handed_back_in_their_order():
    """Cross-graph attention pads a batch's trees to its largest: ``score_pairs`` scores
    pairs ordered by the hop-2 slots of the source's tree, then the target's
    (``padding_order``), and each logit comes back at its own pair's place."""
    from kgn_align.training import padding_order, score_pairs

    a, b, n_rel = sides()
    # trees of entities 0, 4, 5 on side a; 0, 4 on side b (see sides())
    assert a.store.slots_at_depth(0).tolist() == [1, 1, 1]
    assert a.store.slots_at_depth(1).tolist() == [2, 1, 0]
    assert a.store.slots_at_depth(2).tolist() == [1, 2, 0]
    assert b.store.slots_at_depth(2).tolist() == [1, 0]
    rows_a, rows_b = torch.tensor([0, 4, 5, 0, 4, 5]), torch.tensor([0, 4, 0, 4, 0, 4])
    # hop-2 sizes a: 1 2 0 1 2 0, b: 1 0 1 0 1 0 -> by a, then b
    assert padding_order(a, b, rows_a, rows_b).tolist() == [5, 2, 3, 0, 1, 4]

    torch.manual_seed(5)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    alone = torch.cat([score_pairs(model, a, b, rows_a[i:i + 1], rows_b[i:i + 1])[0] for i in range(6)])
    ordered, _ = score_pairs(model, a, b, rows_a, rows_b, batch_pairs=2)
    torch.testing.assert_close(ordered, alone)
    assert len(set(alone.tolist())) == 6  # each pair its own logit: a mix-up would show


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_sides_on_the_device_score_as_sides_on_the_host(device):
    """``score_pairs`` with both sides moved to the model's device first
    (``SideInputs.to``: trees collated there, what it does itself on a GPU with room)
    gives the logits of batches collated on the host; rows may come from the host."""
    from kgn_align.training import score_pairs

    a, b, n_rel = sides()
    torch.manual_seed(6)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8)).to(device)
    rows_a, rows_b = torch.tensor([0, 0, 4, 5, 4, 0, 5]), torch.tensor([0, 4, 4, 0, 0, 4, 0])
    da, db = a.to(device), b.to(device)
    assert da.device.type == device and da.batch(rows_a).entity.device.type == device
    with torch.no_grad():  # batches collated on the host, then moved: the plain forward pass
        host = model.eval()(a.batch(rows_a).to(device), b.batch(rows_b).to(device), a.features.to(device),
                            b.features.to(device)).logit.cpu()
    there, _ = score_pairs(model, da, db, rows_a, rows_b, batch_pairs=3)
    torch.testing.assert_close(there, host)
    assert len(set(there.tolist())) > 3


def test_scoring_batches_are_larger_on_cuda():
    """One forward pass per 256 pairs on the CPU (where larger batches outgrow the caches);
    on CUDA as many as a quarter of the free memory holds, up to 32,768 (each batch's fixed
    cost bounds the speed there: benchmarks/results/pipeline_dbp15k_fr_en_cuda.json)."""
    from kgn_align.training import (SCORE_BATCH_PAIRS, SCORE_BATCH_PAIRS_CUDA, SCORE_BYTES_PER_PAIR_CUDA,
                                    score_batch_pairs)

    assert score_batch_pairs("cpu") == score_batch_pairs(torch.device("cpu")) == SCORE_BATCH_PAIRS
    gb = 2**30
    assert score_batch_pairs("cuda", free_bytes=130 * gb) == SCORE_BATCH_PAIRS_CUDA  # an H200, idle
    assert score_batch_pairs("cuda:1", free_bytes=8 * gb) == 8192  # 2 GB for the pass
    assert 8192 * SCORE_BYTES_PER_PAIR_CUDA <= 2 * gb < 16384 * SCORE_BYTES_PER_PAIR_CUDA
    assert score_batch_pairs(torch.device("cuda"), free_bytes=10**6) == SCORE_BATCH_PAIRS  # nearly full


@pytest.mark.parametrize("flags", [{}, {"self_attention": False}, {"cross_attention": False}, {"gnn": False}])
def test_scoring_with_entity_tables_gives_the_forward_pass_logits(flags):
    """``score_pairs`` projects each side's entities once (:meth:`PairModel.entity_tables`)
    instead of once per batch: the logits of a plain forward pass, whatever the model."""
    from kgn_align.training import score_pairs

    a, b, n_rel = sides()
    torch.manual_seed(5)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8, **flags)).eval()
    rows_a, rows_b = torch.tensor([0, 0, 4, 5, 4, 0, 5]), torch.tensor([0, 4, 4, 0, 0, 4, 0])
    with torch.no_grad():
        plain = model(a.batch(rows_a), b.batch(rows_b), a.features, b.features).logit
    scored, _ = score_pairs(model, a, b, rows_a, rows_b, batch_pairs=3)
    torch.testing.assert_close(scored, plain)
    assert len(set(scored.tolist())) > 3  # the pairs differ: not a constant that would match anyway


def test_calibration_fits_platt_scaling():
    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    logits = torch.linspace(-4, 4, 200)
    labels = (torch.rand(200, generator=torch.Generator().manual_seed(0)) < torch.sigmoid(2 * logits - 1)).float()
    t, bias = model.calibrate(logits, labels)
    assert 1.0 < t < 3.5 and -2.0 < bias < 0.0
    assert float(model.calib_scale) == pytest.approx(t)


def test_platt_scaling_stays_finite_on_a_separable_validation_set():
    """Twenty validation pairs the logit separates perfectly (as a small seed alignment
    gives): hard 0/1 targets push the slope up until every pair scores 0 or 1 to float
    precision; Platt's targets, (N+ + 1) / (N+ + 2) and 1 / (N- + 2), keep it moderate."""
    model = PairModel(ModelConfig(feature_dim=4, num_relations=1, hidden=4))
    logits = torch.cat([torch.linspace(-6, -1, 14), torch.linspace(1, 6, 6)])
    labels = (logits > 0).float()
    t, bias = model.calibrate(logits, labels)
    p = torch.sigmoid(t * logits + bias)
    assert 0 < t < 2  # hard targets: t = 13.9, p = 1.0 at logit 6 and 7.5e-37 at -6
    assert 0.01 < float(p.min()) and float(p.max()) < 0.99
    assert float(p[labels == 1].min()) > 0.5 > float(p[labels == 0].max())  # still ranks them
    assert platt_targets(labels)[labels == 1].unique().tolist() == [pytest.approx(7 / 8)]


@pytest.mark.parametrize("scale", [10.0, 20.0])
def test_calibration_converges_on_large_logits(scale: float):
    """A trained model's validation logits can lie far apart (matches near +30, the rest near
    -10): LBFGS without a line search overshot there and ran the slope to 1e3-1e11 (a
    trial's train log: 5.4e10 * logit, then NaN for the list calibration), so every pair
    scored exactly 0 or 1. With the strong-Wolfe line search both fits stay finite and rank."""
    g = torch.Generator().manual_seed(0)
    model = PairModel(ModelConfig(feature_dim=4, num_relations=1, hidden=4))
    logits = torch.cat([torch.randn(20, generator=g) * 2 + 3 * scale, torch.randn(300, generator=g) * 2 - scale])
    labels = torch.cat([torch.ones(20), torch.zeros(300)])
    t, bias = model.calibrate(logits, labels)
    assert 0 < t < 1 and abs(bias) < 20
    lists = torch.stack([logits[:20], *logits[20:].reshape(15, 20)], 1)  # (20, 16): the match first
    t, m, b = model.calibrate_lists(lists, torch.cat([torch.ones(20, 1), torch.zeros(20, 15)], 1))
    assert all(math.isfinite(v) and abs(v) < 20 for v in (t, m, b))


def test_checkpoint_round_trip_gives_identical_scores(tmp_path):
    a, b, n_rel = sides()
    torch.manual_seed(2)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8)).eval()
    model.calib_scale.fill_(1.7)
    ba, bb = a.batch(torch.tensor([0, 4, 5])), b.batch(torch.tensor([0, 4, 0]))
    before = model(ba, bb, a.features, b.features).prob
    path = tmp_path / "m.pt"
    version = save_checkpoint(path, model, relations=["<unk>"], types=["Entity"], metrics={"hits@1": 0.5})
    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert len(version) == 12 and version == checkpoint_version(raw)
    assert raw["version"] == version and raw["metrics"] == {"hits@1": 0.5}
    loaded, ckpt = load_checkpoint(path)
    torch.testing.assert_close(loaded(ba, bb, a.features, b.features).prob, before, rtol=0, atol=0)
    assert ckpt["config"]["hidden"] == 8


def test_tampered_checkpoint_is_refused(tmp_path):
    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, relations=[], types=[])
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"]["head.0.bias"] += 1.0
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_student_is_part_of_the_version_and_of_the_tamper_check(tmp_path):
    from kgn_align.coldstart import ColdStartMLP

    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    torch.manual_seed(0)
    student = ColdStartMLP(16, 16, hidden=8)
    path = tmp_path / "m.pt"
    plain = save_checkpoint(tmp_path / "plain.pt", model, relations=[], types=[])
    with_student = save_checkpoint(path, model, relations=[], types=[], student=student)
    assert with_student != plain  # another student writes other edges: another version
    _, ckpt = load_checkpoint(path)
    restored = ColdStartMLP.from_state(ckpt["student"])
    x = torch.randn(3, 16)
    assert torch.equal(restored(x), student.eval()(x))
    ckpt = torch.load(path, weights_only=True)
    ckpt["student"]["state_dict"]["net.0.bias"] += 1.0
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def _tampered(path, change) -> None:
    ckpt = torch.load(path, weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)


@pytest.mark.parametrize("change", [
    pytest.param(lambda c: c["relations"].reverse(), id="relation order"),
    pytest.param(lambda c: c["relations"].__setitem__(0, c["relations"][0] + "x"), id="relation name"),
    pytest.param(lambda c: c["types"].append("Film"), id="types"),
    pytest.param(lambda c: c["features"]["idf"].__setitem__(0, c["features"]["idf"][0] + 1e-3), id="idf"),
    pytest.param(lambda c: c["features"].__setitem__("context_beta", 0.9), id="context weight"),
    pytest.param(lambda c: c["config"].__setitem__("hidden", c["config"]["hidden"]), id="nothing"),
])
def test_every_part_that_changes_a_score_is_covered(tmp_path, change, request):
    from kgn_align.features import NgramFeaturizer

    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8)).eval()
    featurizer = NgramFeaturizer.fit(["alpha", "beta", "gamma"], n_bits=4, dim=16)
    features = {**featurizer.state(), "context_beta": 0.3}
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, relations=["<unk>", "r1", "r2"], types=["Entity"], features=features)
    load_checkpoint(path)  # untouched: fine
    _tampered(path, change)
    if request.node.callspec.id == "nothing":
        load_checkpoint(path)  # a no-op edit changes nothing
        return
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_not_a_checkpoint_is_one_clear_error(tmp_path):
    bogus = tmp_path / "m.pt"
    bogus.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="not a kgn-align checkpoint") as err:
        load_checkpoint(bogus)
    assert "\n" not in str(err.value)
    bogus.write_text('[source]\nname = "fr"\n')  # a config given as --model: no torch internals
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bogus)
    assert str(err.value).endswith("not a kgn-align checkpoint (torch.load cannot read it: UnpicklingError)")
    torch.save({"format": 1, "version": "x"}, bogus)
    with pytest.raises(CheckpointError, match="unsupported checkpoint format 1"):
        load_checkpoint(bogus)
    # another torch file (weights saved by someone else): not taken for an old checkpoint
    for other, holds in (({"weight": torch.zeros(2)}, "a dict without a 'format' entry"),
                         (torch.zeros(2), "a Tensor")):
        torch.save(other, bogus)
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(bogus)
        assert f"not a kgn-align checkpoint (a torch file holding {holds}" in str(err.value)
        assert "format" not in str(err.value).split("holding")[0]


def test_a_model_is_refused_by_a_configuration_without_its_attributes(tmp_path, caplog):
    """A model that compares attribute properties the configuration lacks is refused before
    any sampling; taken by default (latest.pt, most likely another graph's: a trial's
    itunes_amazon model on dblp_acm was told to 'add them') the advice is --model."""
    from kgn_align.config import AlignConfig
    from kgn_align.errors import KgnAlignError
    from kgn_align.features import NgramFeaturizer
    from kgn_align.scoring import TrainedModel, UnfamiliarModel

    model = PairModel(ModelConfig(feature_dim=4, num_relations=1, hidden=4))
    config = AlignConfig.model_validate({
        "source": {"name": "a", "label": "Paper", "property": "graph", "value": "a"},
        "target": {"name": "b", "label": "Paper", "property": "graph", "value": "b"},
        "attribute_properties": ["year"]})
    for name, says in (("latest.pt", "give --model"), ("3f2a.pt", "add them to attribute_properties")):
        trained = TrainedModel(model, NgramFeaturizer.fit(["x"], n_bits=4, dim=None), ["<unk>"], ["Paper"],
                               "3f2a", {}, tmp_path / name, attributes=["price", "year"])
        with pytest.raises(UnfamiliarModel) as err:
            trained.check_reading(config)
        assert "compares attribute properties ['price', 'year']" in str(err.value)
        assert "lack ['price']" in str(err.value) and says in str(err.value)
        # one more than it learned takes no part in its scores: said (a trial's 'copyright'
        # was silently read by nothing), once per process, not refused
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kgn_align.scoring"):
            for _ in range(2):
                trained.check_reading(config.model_copy(update={"attribute_properties": ["price", "year", "venue"]}))
        assert [r.getMessage() for r in caplog.records] == (
            ["attribute_properties ['venue'] are not compared by model 3f2a (it learned ['price', 'year']): "
             "they take no part in its scores until 'kgn-align train' learns them"] if name == "latest.pt" else [])
    with pytest.raises(KgnAlignError, match=f"no checkpoint file at {tmp_path / 'typo.pt'}$"):
        TrainedModel.load(tmp_path / "typo.pt")


def test_a_refused_latest_model_names_the_checkpoint_that_fits(tmp_path):
    """The latest model refused for a configuration (another graph's, trained last) names
    the checkpoint of the same home that fits it as --model (a trial found only hash-named
    files, nothing saying which graph each was trained on), and says so when none does."""
    import shutil

    from kgn_align.config import AlignConfig
    from kgn_align.features import NgramFeaturizer
    from kgn_align.scoring import TrainedModel, UnfamiliarModel, side_selection

    config = AlignConfig.model_validate({
        "source": {"name": "a", "label": "Paper", "property": "graph", "value": "a"},
        "target": {"name": "b", "label": "Paper", "property": "graph", "value": "b"},
        "attribute_properties": ["year"]})
    other = config.model_copy(update={"source": config.source.model_copy(update={"value": "c"})})
    model = PairModel(ModelConfig(feature_dim=16, num_relations=1, hidden=8))
    state = NgramFeaturizer.fit(["alpha", "beta"], n_bits=4, dim=16).state()

    def save(name: str, cfg: AlignConfig, attributes: list[str]) -> str:
        return save_checkpoint(tmp_path / name, model, relations=["<unk>"], types=["Paper"],
                               features={**state, "sides": side_selection(cfg), "attribute_properties": attributes})

    theirs = save("theirs.pt", config, ["price", "year"])  # these sides, an attribute it lacks
    save("elsewhere.pt", other, ["year"])  # another source side
    for path in tmp_path.glob("*.pt"):
        path.rename(tmp_path / f"{TrainedModel.load(path).version}.pt")
    shutil.copy(tmp_path / f"{theirs}.pt", tmp_path / "latest.pt")
    with pytest.raises(UnfamiliarModel) as err:
        TrainedModel.load(tmp_path / "latest.pt").check_reading(config)
    assert f"no checkpoint in {tmp_path} was trained for this configuration: train one" in str(err.value)
    fits = save("fits.pt", config, ["year"])
    (tmp_path / "fits.pt").rename(tmp_path / f"{fits}.pt")
    with pytest.raises(UnfamiliarModel) as err:
        TrainedModel.load(tmp_path / "latest.pt").check_reading(config)
    assert f"nothing was done: give --model {fits}, the newest model trained for this configuration" in str(err.value)
    # another graph's model as the latest: the graphs it was trained on come first
    elsewhere = [p.stem for p in tmp_path.glob("*.pt") if TrainedModel.load(p).sides == side_selection(other)][0]
    shutil.copy(tmp_path / f"{elsewhere}.pt", tmp_path / "latest.pt")
    with pytest.raises(UnfamiliarModel) as err:
        TrainedModel.load(tmp_path / "latest.pt").check_reading(config.model_copy(update={"attribute_properties": []}))
    assert str(err.value).startswith(
        f"the latest model ({elsewhere}) was trained on other graphs (:Paper {{graph: 'c'}} -> "
        f":Paper {{graph: 'b'}}) and compares attribute properties ['year']"), str(err.value)
    assert f"give --model {fits}" not in str(err.value)  # it compares 'year': this configuration's has none


def test_version_changes_with_weights():
    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    v1 = model_version(model.state_dict())
    with torch.no_grad():
        model.head[0].bias[0] += 1e-3
    assert model_version(model.state_dict()) != v1


def test_entity_encoder_embeds_unit_vectors():
    a, _, n_rel = sides()
    enc = EntityEncoder(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8))
    z = enc(a.batch(torch.tensor([0, 4, 5])), a.features)
    assert z.shape == (3, 8)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3))


def test_explanations_list_each_neighbour_with_weights():
    from kgn_align.model.explain import neighbour_weights

    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8)).eval()
    ba, bb = a.batch(torch.tensor([4, 0])), b.batch(torch.tensor([4, 0]))
    out = model(ba, bb, a.features, b.features, return_attention=True)
    rows = neighbour_weights(out, ba, bb, pair=1)
    seed_level = [r for r in rows if r.side == "a" and r.layer == 1]
    assert sorted(r.entity for r in seed_level) == [1, 3]  # entity 0's hop-1 neighbours
    assert sum(r.weight for r in seed_level) == pytest.approx(1.0)
    assert all(r.cross is not None and -1.0 <= r.cross <= 1.0 + 1e-6 for r in rows)
    assert {r.parent_entity for r in rows if r.side == "b" and r.layer == 0} <= {0, 2}


def test_candidate_margins_against_the_best_rival():
    from kgn_align.model.pair_model import MARGIN_CAP, candidate_margins

    inf = float("inf")
    logits = torch.tensor([[3.0, 1.0, 0.5], [2.0, 2.0, -inf], [1.0, -inf, -inf]])
    m = candidate_margins(logits)
    assert m[0].tolist() == [2.0, -2.0, -2.5]  # the best against the second, the rest against the best
    assert m[1, :2].tolist() == [0.0, 0.0]  # a tie: no margin either way
    assert m[2, 0] == MARGIN_CAP  # no rival at all
    assert bool(torch.isfinite(m).all())
    assert candidate_margins(torch.tensor([[0.3], [-1.0]])).tolist() == [[MARGIN_CAP], [MARGIN_CAP]]


def test_list_calibration_uses_the_margin_and_matches_the_base_rate():
    """Lists where the gold is the best candidate by a clear margin, or lost among close rivals:
    the logit alone cannot tell them apart, the margin can."""
    g = torch.Generator().manual_seed(0)
    q, k = 2000, 8
    logits = torch.randn(q, k, generator=g)
    labels = torch.zeros(q, k)
    clear = torch.rand(q, generator=g) < 0.5
    logits[:, 0] = torch.where(clear, logits[:, 1:].max(1).values + 2.0, logits[:, 1:].max(1).values - 0.1)
    labels[:, 0] = clear.float()  # only a clear winner is a match
    model = PairModel(ModelConfig(feature_dim=4, num_relations=1, hidden=4))
    t, m, b = model.calibrate_lists(logits, labels)
    assert m > 1.0
    p = model.calibrated_in_lists(logits)
    assert float(p[clear, 0].mean()) > 0.9 and float(p[~clear, 0].mean()) < 0.2
    assert float(p.mean()) == pytest.approx(float(labels.mean()), abs=0.01)  # calibrated on average
    padded = logits.clone()
    padded[:, -1] = float("-inf")
    assert bool((model.calibrated_in_lists(padded)[:, -1] == 0).all())
