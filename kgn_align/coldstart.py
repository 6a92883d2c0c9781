"""Blocking vectors for entities without neighbours ("Cold Brew", Zheng et al., ICLR 2023).

Blocking embeds each entity from its name *and* its sampled neighbourhood: the
neighbourhood part is one parameter-free message-passing step, the sum of the neighbours'
name vectors (:func:`kgn_align.features.neighbour_context`). An entity with no neighbours
(a node nobody has linked yet) has nothing to aggregate: its neighbourhood part is zero,
and as a *target* it then scores about ``1/sqrt(2)`` of what a linked look-alike scores, so
it falls out of its counterpart's top-k. Cold Brew's remedy, simplified: distil the
aggregation into a student MLP that predicts the neighbourhood part from the entity's own
name vector, trained on the entities that *do* have neighbours (the teacher's output is the
target), and use the student's guess for the isolated ones.

.. math::
    \\hat{z}_i = \\frac{\\mathrm{MLP}(x_i)}{\\lVert \\mathrm{MLP}(x_i) \\rVert},\\qquad
    \\mathcal{L} = \\frac{1}{|T|}\\sum_{i \\in T} 1 - \\cos(\\hat{z}_i, z_i)

with ``x_i`` the level-0 features, ``z_i`` the teacher's vector and ``T`` the entities with
neighbours. The loss is cosine, because blocking compares vectors by cosine only.

Where the guess goes (``benchmarks/candidates_bench.py``: 1,000 test pairs of
``dbp15k_fr_en`` and ``srprs_en_fr`` cut loose from their links): for isolated *targets*,
the indexed side, it lifts recall@1 from 0.834 to 0.914 (fr_en) and 0.833 to 0.854
(srprs); for isolated *sources*, the queries, a zero neighbourhood part ranks by names
alone, which did as well or better than the guess (recall@1 0.900 vs 0.901, 0.913 vs
0.901; in an earlier run 0.904 vs 0.894, 0.913 vs 0.896). So
:meth:`kgn_align.snapshot.Snapshot.blocking` gives the student to the target side only,
at :data:`STUDENT_WEIGHT` (half a real neighbourhood's weight; at full weight the guess
helped targets less in a first trial). The price: when *both* ends of a pair are new,
recall@1 is 0.9 points below using no student (recall@50 the same). Both choices
were made on these cut-loose test pairs: treat the figures as indicative, not held out.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

log = logging.getLogger(__name__)

#: scale of the student's (unit) guess against a real neighbourhood vector (see above)
STUDENT_WEIGHT = 0.5


class ColdStartConfig(BaseModel):
    """Student size and training schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden: int = Field(512, ge=1)
    layers: int = Field(2, ge=1, le=8)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    #: 5: the loss flattens by then (dbp15k_fr_en: 0.7209, 0.6678, 0.6518, 0.6453, 0.6418 over
    #: epochs 1-5, 0.6357 after 10); recall of cut-loose targets (benchmarks/candidates_bench.py)
    #: at 10 -> 5 epochs: fr_en @1 0.916 -> 0.914, @10 and @50 the same; srprs_en_fr @1
    #: 0.857 -> 0.854, @10 0.943 -> 0.941, @50 0.963 -> 0.964; the fit 17-19 -> 10-13 s
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(512, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    seed: int = 0


class ColdStartMLP(nn.Module):
    """Student MLP: level-0 features -> unit vectors in the structural embedding space.

    Args:
        in_dim: level-0 feature size ``F``.
        out_dim: structural embedding size ``D``.
        hidden: hidden width. Default 512.
        layers: number of linear layers (``>= 1``). Default 2.
        dropout: dropout between layers. Default 0.1.

    Shapes: ``(N, F) -> (N, D)``, rows L2-normalised.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 512, layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise ValueError("in_dim and out_dim must be positive")
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        self.layers, self.dropout = layers, dropout
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        blocks: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            blocks.append(nn.Linear(a, b))
            if i < layers - 1:
                blocks += [nn.GELU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*blocks)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.net:
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.normalize(self.net(x), dim=-1)

    def state(self) -> dict[str, Any]:
        """Plain types + tensors, loadable with ``torch.load(weights_only=True)``."""
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "hidden": self.hidden,
                "layers": self.layers, "dropout": self.dropout,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ColdStartMLP:
        model = cls(int(state["in_dim"]), int(state["out_dim"]), int(state["hidden"]),
                    int(state["layers"]), float(state["dropout"]))
        model.load_state_dict(state["state_dict"])
        return model.eval()


def fit(features: Tensor, teacher: Tensor, has_neighbours: Tensor,
        config: ColdStartConfig | None = None) -> ColdStartMLP:
    """Train a student on the entities with neighbours (``has_neighbours`` true).

    Shapes: ``features (N, F)``, ``teacher (N, D)``, ``has_neighbours (N,)`` bool.
    Deterministic under ``config.seed`` on CPU. Batches are gathered from ``features`` and
    ``teacher`` as they go (no copy of the rows with neighbours: on dbp15k_fr_en each copy
    was 80 MB, and this fit ran at the peak of ``kgn-align train``).
    """
    config = config or ColdStartConfig()
    if features.size(0) != teacher.size(0) or has_neighbours.shape != (features.size(0),):
        raise ValueError("features, teacher and has_neighbours must have one row per entity")
    mask = has_neighbours.bool()
    if int(mask.sum()) == 0:
        raise ValueError("no entity has neighbours: there is nothing to distil from")
    rows = mask.nonzero().squeeze(1)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = ColdStartMLP(features.size(1), teacher.size(1), config.hidden, config.layers, config.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(rows.numel(), generator=generator)
        total = 0.0
        for start in range(0, rows.numel(), config.batch_size):
            idx = order[start:start + config.batch_size]
            batch = rows.index_select(0, idx)
            x = features.index_select(0, batch).float()
            z = nn.functional.normalize(teacher.index_select(0, batch).float(), dim=-1)
            loss = (1.0 - (model(x) * z).sum(-1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        log.debug("cold start epoch %d: loss %.4f", epoch, total / rows.numel())
    model.eval()
    return model


@torch.no_grad()
def fill(features: Tensor, embeddings: Tensor, has_neighbours: Tensor,
         student: ColdStartMLP, weight: float = 1.0) -> Tensor:
    """``embeddings`` with the rows of isolated entities replaced by ``weight`` times the
    student's (unit) guess.

    Shapes: ``(N, F), (N, D), (N,) -> (N, D)``.
    """
    if weight < 0:
        raise ValueError(f"weight must be non-negative, got {weight}")
    out = embeddings.clone()
    isolated = ~has_neighbours.bool()
    if int(isolated.sum()):
        student.eval()
        guess = student(features[isolated].to(next(student.parameters()).device).float())
        out[isolated] = (weight * guess).to(device=out.device, dtype=out.dtype)
    return out
