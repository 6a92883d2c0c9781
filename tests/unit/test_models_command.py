"""``kgn-align models``: the checkpoints of a home, which graphs each aligns, and which is the
default (a trial found only hash-named files, and no command to tell them apart)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from click.testing import CliRunner

from kgn_align.cli import cli
from kgn_align.config import AlignConfig
from kgn_align.features import NgramFeaturizer
from kgn_align.model.pair_model import ModelConfig, PairModel
from kgn_align.scoring import side_selection
from kgn_align.training import save_checkpoint


def _config(source: str, target: str) -> AlignConfig:
    return AlignConfig.model_validate({
        "source": {"name": "s", "label": "Paper", "property": "graph", "value": source},
        "target": {"name": "t", "label": "Paper", "property": "graph", "value": target}})


def _save(models: Path, config: AlignConfig, attributes: list[str], hits: float, seed: int, when: float) -> str:
    torch.manual_seed(seed)  # another model: another id
    model = PairModel(ModelConfig(feature_dim=16, num_relations=1, hidden=8))
    state = NgramFeaturizer.fit(["alpha", "beta"], n_bits=4, dim=16).state()
    tmp = models / "new.pt"
    version = save_checkpoint(tmp, model, relations=["<unk>"], types=["Paper"], metrics={"valid_hits@1": hits},
                              features={**state, "sides": side_selection(config), "attribute_properties": attributes})
    path = models / f"{version}.pt"
    tmp.rename(path)
    os.utime(path, (when, when))
    return version


def test_models_lists_each_checkpoint_with_its_sides_newest_first(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    older = _save(models, _config("dblp", "acm"), ["year"], 0.9875, seed=1, when=1_700_000_000)
    newer = _save(models, _config("fr", "en"), [], 0.9667, seed=2, when=1_700_000_600)
    shutil.copy(models / f"{older}.pt", models / "latest.pt")  # the default: named, whatever its age
    (models / "broken.pt").write_bytes(b"not a checkpoint")
    os.utime(models / "broken.pt", (1_600_000_000, 1_600_000_000))
    ran = CliRunner().invoke(cli, ["--home", str(tmp_path), "models"])
    assert ran.exit_code == 0, ran.output
    lines = ran.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [newer, older, "broken"]
    assert "(latest)" in lines[1] and "(latest)" not in lines[0]
    assert ":Paper {graph: 'dblp'} -> :Paper {graph: 'acm'}" in lines[1] and "compares year" in lines[1]
    assert "validation Hits@1 0.9875" in lines[1] and "compares" not in lines[0]
    assert "unreadable:" in lines[2]
    assert ran.stderr.strip() == f"3 model(s) in {models}"
    listed = CliRunner().invoke(cli, ["--home", str(tmp_path), "models", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows[1]["id"] == older and rows[1]["latest"] and rows[1]["attributes"] == ["year"]
    assert rows[0]["source"] == ":Paper {graph: 'fr'}" and rows[0]["valid_hits@1"] == 0.9667
    # a home without models says how to get one
    empty = CliRunner().invoke(cli, ["--home", str(tmp_path / "none"), "models"])
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "no model in " in empty.stderr and "kgn-align train" in empty.stderr
