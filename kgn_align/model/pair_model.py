"""The pair scorer ("cross-encoder") and the per-entity encoder ("bi-encoder").

:class:`PairModel` reads two :class:`~kgn_align.neighborhood.SideBatch` es of ``P`` trees each
(tree ``i`` of side ``a`` is paired with tree ``i`` of side ``b``) plus each side's entity
feature table, and returns a calibrated confidence that the two seeds are the same entity.
:class:`EntityEncoder` embeds one side's seeds on their own (no cross-graph terms), for
blocking with approximate nearest neighbours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kgn_align.attributes import FEATURES_PER_ATTRIBUTE
from kgn_align.model.layers import CrossGraphAttentionConv, RowProjections
from kgn_align.neighborhood import SideBatch



@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (stored as a plain dict in checkpoints)."""

    feature_dim: int
    num_relations: int
    num_types: int = 1
    hidden: int = 64
    num_layers: int = 2
    self_attention: bool = True
    cross_attention: bool = True
    gnn: bool = True  #: False = names-only ablation (no message passing)
    dropout: float = 0.1
    cross_scale: float = 5.0
    name_weight: float = 10.0  #: initial weight of the level-0 name cosine in the logit
    agree_weight: float = 2.0  #: initial weight of the mean neighbourhood agreement
    #: attribute properties compared per pair (:mod:`kgn_align.attributes`): 3 features each
    num_attributes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        return cls(**d)


@dataclass
class PairOutput:
    """Scores for ``P`` pairs; attention only when asked for.

    - ``logit``: ``(P,)`` raw score; ``prob``: ``(P,)`` calibrated confidence in [0, 1].
    - ``attention_a`` / ``attention_b``: per layer, ``(E_a,)`` / ``(E_b,)`` combined weights
      :math:`\\alpha` of each tree edge (child slot's weight for its parent).
    - ``cross_a`` / ``cross_b``: per layer, ``(N,)`` best cross-graph cosine of each slot.
    """

    logit: Tensor
    prob: Tensor
    attention_a: list[Tensor] = field(default_factory=list)
    attention_b: list[Tensor] = field(default_factory=list)
    cross_a: list[Tensor] = field(default_factory=list)
    cross_b: list[Tensor] = field(default_factory=list)


class _SlotEncoder(nn.Module):
    """Level-0 slot vectors: a projection of the entity's features plus its type embedding.

    Projects each distinct entity once (an entity fills many slots).
    """

    def __init__(self, feature_dim: int, num_types: int, hidden: int) -> None:
        super().__init__()
        self.lin = nn.Linear(feature_dim, hidden)
        self.type_emb = nn.Embedding(num_types, hidden)
        nn.init.zeros_(self.type_emb.weight)

    def forward(self, features: Tensor, batch: SideBatch) -> Tensor:
        table, inv = self.table(features, batch)
        return table.index_select(0, inv)

    def table(self, features: Tensor, batch: SideBatch) -> tuple[Tensor, Tensor]:
        """One row per distinct entity of the batch, and each slot's row: ``(U, H), (N,)``."""
        uniq, inv = torch.unique(batch.entity, return_inverse=True)
        types = torch.zeros(uniq.numel(), dtype=batch.node_type.dtype, device=uniq.device)
        types.scatter_(0, inv, batch.node_type)
        return self.whole(features.index_select(0, uniq), types), inv

    def whole(self, features: Tensor, entity_types: Tensor) -> Tensor:
        """Level-0 vectors of the given entities: ``(R, F), (R,) -> (R, H)`` (every entity's,
        for :meth:`PairModel.entity_tables`; a batch's distinct ones, for :meth:`table`)."""
        return self.lin(features) + self.type_emb(entity_types)


@dataclass
class EntityTables:
    """One side's per-entity inputs of the first layer, computed once when many batches are
    scored (:meth:`PairModel.entity_tables`): level-0 vectors ``(|V|, H)`` and the first
    layer's projections of them (``None`` without message passing)."""

    level0: Tensor
    first: RowProjections | None


class PairModel(nn.Module):
    r"""CG-MuAlign-style cross-encoder.

    Two :class:`CrossGraphAttentionConv` layers run on both trees of a pair (hop 2 -> hop 1,
    then hop 1 -> seed); in each, a neighbour's weight rises when it has a close counterpart
    in the other tree at the same depth. The head reads the two seed vectors
    :math:`\mathbf{h}_a, \mathbf{h}_b`, the level-0 name cosine :math:`s_0`, and (with
    cross-graph attention) each seed's *neighbourhood agreement*
    :math:`\sum_j \alpha_{ij} c_j` from the last layer:

    .. math::
        \ell = w \, s_0 + v \, \bar g + \mathbf{u}^\top \mathbf{x} + \mathrm{MLP}\big([\,|\mathbf{h}_a - \mathbf{h}_b| \,\Vert\,
            \mathbf{h}_a \odot \mathbf{h}_b \,\Vert\, s_0 \,\Vert\, g_a \,\Vert\, g_b \,\Vert\, \mathbf{x}\,]\big),
        \qquad p = \sigma(t \, \ell + b)

    where :math:`\bar g` is the mean agreement over layers and sides, :math:`\mathbf{x}` the
    pair's attribute agreement (:mod:`kgn_align.attributes`; absent without attributes), and
    with Platt parameters :math:`t, b` fitted on validation pairs (:meth:`calibrate`).

    Shapes: two batches of ``P`` trees and feature tables ``(|V_a|, F)``, ``(|V_b|, F)``
    -> :class:`PairOutput` with ``(P,)`` logits and probabilities.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.num_layers < 1 and config.gnn:
            raise ValueError("a GNN model needs num_layers >= 1")
        self.config = config
        h = config.hidden
        self.encoder = _SlotEncoder(config.feature_dim, config.num_types, h)
        self.convs = nn.ModuleList()
        if config.gnn:
            for _ in range(config.num_layers):
                self.convs.append(
                    CrossGraphAttentionConv(
                        h,
                        h,
                        config.num_relations,
                        self_attention=config.self_attention,
                        cross_attention=config.cross_attention,
                        cross_scale=config.cross_scale,
                        dropout=config.dropout,
                    )
                )
        # between layers only: the last layer's output goes straight to the head
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in self.convs[:-1])
        n_agree = 2 * len(self.convs) if self.uses_cross else 0
        n_attr = FEATURES_PER_ATTRIBUTE * config.num_attributes
        self.head = nn.Sequential(
            nn.Linear(2 * h + 1 + n_agree + n_attr, h),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(h, 1),
        )
        # Residual over the names prior: the logit starts as name_weight * s0 (the names-only
        # ranking) and the head learns what neighbourhood evidence adds to it.
        self.name_weight = nn.Parameter(torch.tensor(float(config.name_weight)))
        # Likewise, neighbourhood agreement starts with a positive say (CG-MuAlign's premise:
        # neighbours with a counterpart are evidence); 0 without cross-graph attention.
        self.agree_weight = nn.Parameter(torch.tensor(float(config.agree_weight))) if self.uses_cross else None
        # Attribute agreement (present / equal / near per property) adds a linear say of its
        # own, starting at zero: the model begins as it would without attributes.
        self.attribute_weight = nn.Linear(n_attr, 1, bias=False) if n_attr else None
        if self.attribute_weight is not None:
            nn.init.zeros_(self.attribute_weight.weight)
        # Platt scaling, fitted after training; identity until then.
        self.register_buffer("calib_scale", torch.ones(()))
        self.register_buffer("calib_bias", torch.zeros(()))
        # Candidate-list calibration [t, m, b] (see calibrated_in_lists); Platt-only until fitted.
        self.register_buffer("list_calib", torch.tensor([1.0, 0.0, 0.0]))

    @property
    def uses_cross(self) -> bool:
        return self.config.gnn and self.config.cross_attention

    def forward(
        self,
        a: SideBatch,
        b: SideBatch,
        features_a: Tensor,
        features_b: Tensor,
        *,
        return_attention: bool = False,
        tables_a: EntityTables | None = None,
        tables_b: EntityTables | None = None,
        attributes: Tensor | None = None,
    ) -> PairOutput:
        """``tables_a`` / ``tables_b``: optional :meth:`entity_tables` of the sides, computed
        once when many batches are scored (the same result up to float rounding). ``attributes``:
        ``(P, 3A)`` pair features (:func:`kgn_align.model.inputs.pair_attributes`), required
        when the model was built with ``num_attributes = A > 0``."""
        if a.num_trees != b.num_trees:
            raise ValueError(f"sides hold {a.num_trees} and {b.num_trees} trees; pairs need equal counts")
        n_attr = FEATURES_PER_ATTRIBUTE * self.config.num_attributes
        if n_attr and (attributes is None or tuple(attributes.shape) != (a.num_trees, n_attr)):
            found = None if attributes is None else tuple(attributes.shape)
            raise ValueError(f"the model compares {self.config.num_attributes} attribute properties: "
                             f"attributes must be ({a.num_trees}, {n_attr}), got {found}")
        seed_a = features_a.index_select(0, a.entity.index_select(0, a.seed))
        seed_b = features_b.index_select(0, b.entity.index_select(0, b.seed))
        s0 = F.cosine_similarity(seed_a, seed_b, dim=-1)
        out = PairOutput(logit=torch.empty(0), prob=torch.empty(0))
        # level 0: one row per distinct entity (x_index maps slots to rows)
        xa, ia = (tables_a.level0, a.entity) if tables_a is not None else self.encoder.table(features_a, a)
        xb, ib = (tables_b.level0, b.entity) if tables_b is not None else self.encoder.table(features_b, b)
        # the first layer's projections of the whole tables, when given
        first_a = tables_a.first if tables_a is not None else None
        first_b = tables_b.first if tables_b is not None else None
        ia_opt: Tensor | None = ia
        ib_opt: Tensor | None = ib
        if not self.convs:
            ha, hb = xa.index_select(0, ia.index_select(0, a.seed)), xb.index_select(0, ib.index_select(0, b.seed))
        last = len(self.convs) - 1
        agree: list[Tensor] = []
        for i, conv in enumerate(self.convs):
            # Layer i only needs outputs for slots within depth last - i (the last layer: the
            # seeds), and the last layer only the edges into the seeds.
            ea, eb = (a, b) if i < last else (_into_seeds(a), _into_seeds(b))
            ta = a.seed if i == last else torch.nonzero(a.depth <= last - i, as_tuple=True)[0]
            tb = b.seed if i == last else torch.nonzero(b.depth <= last - i, as_tuple=True)[0]
            ca = cb = None
            if self.uses_cross:
                depths = tuple(range(1, last - i + 2))
                ca, cb = cross_by_depth(conv, xa, xb, a, b, depths, index_a=ia_opt, index_b=ib_opt,
                                        projected_a=first_a.cross if first_a is not None else None,
                                        projected_b=first_b.cross if first_b is not None else None)
            ya, alpha_a = conv(xa, ea.edge_index, ea.edge_type, ea.edge_dir, cross=ca, return_attention=True,
                               x_index=ia_opt, targets=ta, projections=first_a)
            yb, alpha_b = conv(xb, eb.edge_index, eb.edge_type, eb.edge_dir, cross=cb, return_attention=True,
                               x_index=ib_opt, targets=tb, projections=first_b)
            if self.uses_cross:
                agree.append(_seed_agreement(a, ea, alpha_a, ca))
                agree.append(_seed_agreement(b, eb, alpha_b, cb))
            if return_attention:
                out.attention_a.append(alpha_a.detach())
                out.attention_b.append(alpha_b.detach())
                if ca is not None and cb is not None:
                    out.cross_a.append(ca.detach())
                    out.cross_b.append(cb.detach())
            if i < last:
                # slots deeper than last - i are never read again: leave them zero
                xa = ya.new_zeros(a.num_slots, ya.size(1)).index_copy(0, ta, self.norms[i](F.elu(ya)))
                xb = yb.new_zeros(b.num_slots, yb.size(1)).index_copy(0, tb, self.norms[i](F.elu(yb)))
                ia_opt = ib_opt = None
                first_a = first_b = None
            else:
                ha, hb = ya, yb
        parts = [(ha - hb).abs(), ha * hb, s0.unsqueeze(-1)] + [g.unsqueeze(-1) for g in agree]
        if n_attr and attributes is not None:
            attributes = attributes.to(device=ha.device, dtype=ha.dtype)
            parts.append(attributes)
        logit = self.name_weight * s0 + self.head(torch.cat(parts, dim=-1)).squeeze(-1)
        if self.agree_weight is not None:
            logit = logit + self.agree_weight * torch.stack(agree).mean(0)
        if self.attribute_weight is not None and attributes is not None:
            logit = logit + self.attribute_weight(attributes).squeeze(-1)
        out.logit = logit
        out.prob = torch.sigmoid(self.calib_scale * logit + self.calib_bias)
        return out

    def entity_tables(self, features: Tensor, entity_types: Tensor) -> EntityTables:
        """A side's :class:`EntityTables`: ``(|V|, F)`` features and ``(|V|,)`` type ids in the
        model's type vocabulary. What every batch would otherwise project for its own
        entities (``torch.unique`` and four linear maps a batch) is projected once."""
        level0 = self.encoder.whole(features, entity_types)
        return EntityTables(level0, self.convs[0].project_rows(level0) if self.convs else None)

    def calibrated_in_lists(self, logits: Tensor) -> Tensor:
        r"""Probabilities of candidate pairs that compete for one source entity.

        A pair's own logit says how alike the two entities are; whether the pair is *the*
        match also depends on its rivals. With :math:`\delta` the pair's margin over the best
        other candidate of its source (:func:`candidate_margins`),
        :math:`p = \sigma(t\,\ell + m\,\delta + b)`, fitted on validation candidate lists
        (:meth:`calibrate_lists`). On dbp15k_fr_en the plain Platt score kept a correct best
        candidate below 0.5 for one source in five; the margin term lifts it.

        Shapes: ``(Q, k)`` logits, ``-inf`` where a source has fewer candidates -> ``(Q, k)``
        probabilities (0 in the padding).
        """
        t, m, b = self.list_calib.to(logits.device).unbind()
        prob = torch.sigmoid(t * logits + m * candidate_margins(logits) + b)
        return torch.where(torch.isfinite(logits), prob, torch.zeros_like(prob))

    @torch.no_grad()
    def calibrate_lists(self, logits: Tensor, labels: Tensor, *, steps: int = 200) -> tuple[float, float, float]:
        """Fit :meth:`calibrated_in_lists` on validation lists (BCE, LBFGS): ``(Q, k)``
        logits and 0/1 labels. Returns ``(t, m, b)``, stored in the ``list_calib`` buffer."""
        if logits.shape != labels.shape or logits.dim() != 2 or logits.numel() == 0:
            raise ValueError("calibrate_lists needs equally shaped, non-empty (Q, k) logits and labels")
        logits = logits.detach().float().cpu()
        valid = torch.isfinite(logits)
        w = _fit_logistic([logits[valid], candidate_margins(logits)[valid]],
                          labels.detach().float().cpu()[valid], steps=steps)
        self.list_calib.copy_(w)
        t, m, b = (float(v) for v in w)
        return t, m, b

    @torch.no_grad()
    def calibrate(self, logits: Tensor, labels: Tensor, *, steps: int = 200) -> tuple[float, float]:
        """Platt scaling: fit ``sigmoid(t * logit + b)`` to validation labels (BCE, LBFGS,
        Platt's targets: :func:`platt_targets`).

        Returns ``(t, b)``; they are stored as buffers and travel with the checkpoint.
        """
        if logits.shape != labels.shape or logits.numel() == 0:
            raise ValueError("calibrate needs equally shaped, non-empty logits and labels")
        t, b = _fit_logistic([logits.detach().float().cpu()], labels.detach().float().cpu(),
                             steps=steps).tolist()
        self.calib_scale.fill_(t)
        self.calib_bias.fill_(b)
        return t, b


def platt_targets(labels: Tensor) -> Tensor:
    """Platt's regularised targets for 0/1 labels: :math:`(N_+ + 1) / (N_+ + 2)` for a
    match and :math:`1 / (N_- + 2)` for a non-match, from "Probabilistic Outputs for Support
    Vector Machines" (Platt, 1999, section 2.2). With hard 0/1 targets a validation set that
    the logit separates (a few dozen pairs can be) drives the fitted slope without bound, and
    every later pair scores exactly 0 or 1; these targets keep the fit finite, and they
    approach 0/1 as the validation set grows. Shapes: ``(N,) -> (N,)``."""
    positives = float(labels.sum())
    negatives = float(labels.numel()) - positives
    return torch.where(labels > 0.5, torch.tensor((positives + 1.0) / (positives + 2.0)),
                       torch.tensor(1.0 / (negatives + 2.0)))


def _fit_logistic(columns: list[Tensor], labels: Tensor, *, steps: int) -> Tensor:
    """Logistic regression by LBFGS (with a strong-Wolfe line search: without one it
    overshot on logits tens apart and ran the weights to 1e10, then NaN) on BCE against
    :func:`platt_targets`: weights
    ``[w_1 .. w_d, bias]`` of ``w_1 x_1 + ... + w_d x_d + bias``, starting from ``w_1 = 1``
    and zeros (the identity on the first column). Shapes: ``d`` columns of ``(N,)`` and
    ``(N,)`` 0/1 labels -> ``(d + 1,)``.
    """
    labels = platt_targets(labels)
    init = torch.zeros(len(columns) + 1)
    init[0] = 1.0
    w = init.requires_grad_()
    opt = torch.optim.LBFGS([w], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        z = w[0] * columns[0]
        for i in range(1, len(columns)):
            z = z + w[i] * columns[i]
        loss = F.binary_cross_entropy_with_logits(z + w[-1], labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach()


#: margins are clipped to this many logits: a lone candidate has no rival (margin +inf)
MARGIN_CAP = 10.0


def candidate_margins(logits: Tensor) -> Tensor:
    """Each candidate's logit minus the best *other* candidate's logit of the same source,
    clipped to ``±MARGIN_CAP``. Shapes: ``(Q, k)`` (``-inf`` padding) -> ``(Q, k)``."""
    if logits.size(1) == 1:
        return torch.full_like(logits, MARGIN_CAP)
    top2 = logits.topk(2, dim=1).values
    rival = torch.where(logits >= top2[:, :1], top2[:, 1:2], top2[:, :1])
    margin = torch.nan_to_num(logits - rival, nan=0.0, posinf=MARGIN_CAP, neginf=-MARGIN_CAP)
    return margin.clamp(-MARGIN_CAP, MARGIN_CAP)


def _seed_agreement(batch: SideBatch, edges: SideBatch, alpha: Tensor, cross: Tensor | None) -> Tensor:
    r"""Per tree, :math:`\sum_j \alpha_{ij} c_j` over the seed's children (0 if it has none).

    ``edges`` is ``batch`` or a subset of its edges; ``alpha`` is per edge of ``edges``.
    Shapes: ``(E,), (N,) -> (B,)``.
    """
    if cross is None:
        raise ValueError("agreement needs cross scores")
    child, parent = edges.edge_index
    at_seed = batch.depth[parent] == 0
    contrib = (alpha * cross[child])[at_seed]
    out = torch.zeros(batch.num_trees, dtype=alpha.dtype, device=alpha.device)
    return out.index_add_(0, batch.tree[parent[at_seed]], contrib)


def _into_seeds(batch: SideBatch) -> SideBatch:
    """The same slots with only the edges whose parent is a seed (hop 1 -> seed)."""
    keep = torch.nonzero(batch.depth[batch.edge_index[1]] == 0, as_tuple=True)[0]
    return SideBatch(
        entity=batch.entity,
        node_type=batch.node_type,
        depth=batch.depth,
        tree=batch.tree,
        seed=batch.seed,
        edge_index=batch.edge_index[:, keep],
        edge_type=batch.edge_type[keep],
        edge_dir=batch.edge_dir[keep],
    )


def cross_by_depth(
    conv: CrossGraphAttentionConv,
    xa: Tensor,
    xb: Tensor,
    a: SideBatch,
    b: SideBatch,
    depths: tuple[int, ...] = (1, 2),
    *,
    index_a: Tensor | None = None,
    index_b: Tensor | None = None,
    projected_a: Tensor | None = None,
    projected_b: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Cross-graph scores for the slots at ``depths`` (one dense block per depth, so hop-1
    lists are not padded to hop-2 sizes); other slots get -1 (they are never children here).
    With ``index_a`` / ``index_b``, ``xa`` / ``xb`` are per-entity tables read through them
    (projected once per entity; ``projected_a`` / ``projected_b``: those projections,
    :meth:`~CrossGraphAttentionConv.cross_project` of the tables, computed before).

    Shapes: ``(N_a, H), (N_b, H) -> (N_a,), (N_b,)`` (tables: ``(U, H)`` with ``(N,)`` indices).
    """
    n_a = a.num_slots
    n_b = b.num_slots
    ca = torch.full((n_a,), -1.0, dtype=xa.dtype, device=xa.device)
    cb = torch.full((n_b,), -1.0, dtype=xb.dtype, device=xb.device)
    za_tab = (projected_a if projected_a is not None else conv.cross_project(xa)) if index_a is not None else None
    zb_tab = (projected_b if projected_b is not None else conv.cross_project(xb)) if index_b is not None else None
    for d in depths:
        sa_ = torch.nonzero(a.depth == d, as_tuple=True)[0]
        sb_ = torch.nonzero(b.depth == d, as_tuple=True)[0]
        if sa_.numel() == 0 or sb_.numel() == 0:
            continue
        za = za_tab.index_select(0, index_a.index_select(0, sa_)) if za_tab is not None and index_a is not None \
            else conv.cross_project(xa.index_select(0, sa_))
        zb = zb_tab.index_select(0, index_b.index_select(0, sb_)) if zb_tab is not None and index_b is not None \
            else conv.cross_project(xb.index_select(0, sb_))
        sa, sb = conv.cross_match(za, zb, a.tree[sa_], b.tree[sb_], a.num_trees)
        ca[sa_] = sa
        cb[sb_] = sb
    return ca, cb


class EntityEncoder(nn.Module):
    """Bi-encoder: one entity's own tree -> a unit vector, no cross-graph terms.

    Same layers as :class:`PairModel` with cross-graph attention off, so that its vectors can
    be indexed once per side and searched with ANN for blocking. Shapes: a batch of ``B``
    trees and a feature table ``(|V|, F)`` -> ``(B, hidden)``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = _SlotEncoder(config.feature_dim, config.num_types, h)
        self.convs = nn.ModuleList(
            CrossGraphAttentionConv(
                h, h, config.num_relations, self_attention=config.self_attention, cross_attention=False
            )
            for _ in range(config.num_layers if config.gnn else 0)
        )
        self.name_skip = nn.Linear(config.feature_dim, h, bias=False)

    def forward(self, batch: SideBatch, features: Tensor) -> Tensor:
        x = self.encoder(features, batch)
        for i, conv in enumerate(self.convs):
            x = conv(x, batch.edge_index, batch.edge_type, batch.edge_dir)
            if i < len(self.convs) - 1:
                x = F.elu(x)
        seeds = batch.entity[batch.seed]
        return F.normalize(x[batch.seed] + self.name_skip(features[seeds]), dim=-1)
