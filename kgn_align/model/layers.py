"""The message-passing layer of the pair model: relation-aware, self- and cross-graph attention."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, Linear, Parameter
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax


#: offset of padding slots in :meth:`CrossGraphAttentionConv.cross_match` (below any cosine)
_PAD = -1.0e4


def _dense_positions(group: Tensor, num_groups: int) -> tuple[Tensor, int]:
    """Each slot's position in a dense ``(num_groups, M)`` layout, flattened, and ``M`` (the
    largest group): slot ``i`` goes to row ``group[i]``, after the earlier slots of its
    group. The same layout as :func:`torch_geometric.utils.to_dense_batch`, for groups in
    any order (a collated batch has them sorted: no sort then). Shapes: ``(N,) -> (N,), int``."""
    counts = torch.bincount(group, minlength=num_groups)
    width = max(int(counts.max()), 1) if counts.numel() else 1
    starts = torch.cumsum(counts, 0) - counts
    if group.numel() < 2 or bool((group[1:] >= group[:-1]).all()):
        within = torch.arange(group.numel(), device=group.device) - starts.index_select(0, group)
    else:
        order = torch.argsort(group, stable=True)
        within = torch.empty_like(group)
        within[order] = torch.arange(group.numel(), device=group.device) - starts.index_select(0, group[order])
    return group * width + within, width


def _drop_generated_source(layer: MessagePassing) -> None:
    """Delete the source file PyG wrote for ``layer``'s class, once it is imported.

    ``MessagePassing.__init__`` renders a ``propagate`` from a jinja template into a
    ``NamedTemporaryFile(delete=False)`` and imports it (PyG 2.5+,
    ``torch_geometric.template.module_from_template``); nothing deletes it, so every process
    that built a model left a 7.7 KB ``kgn_align.model.layers_*_propagate_*.py`` in the
    temporary directory (712 of them on one development machine). The module is loaded by
    then and only TorchScript would read its source again, which this package does not use."""
    module = sys.modules.get(type(layer).propagate.__module__)
    path = getattr(module, "__file__", None)
    if path and os.path.dirname(path) == tempfile.gettempdir():
        try:
            os.unlink(path)
        except FileNotFoundError:  # another layer of the class came first
            pass


def _no_match_below(best: Tensor) -> Tensor:
    """Best cosines where a row held only padding (far below -1) set to -1."""
    return torch.where(best < -2.0, torch.full_like(best, -1.0), best)


def _chosen_cosine(z: Tensor, z_other: Tensor, best: Tensor, pick: Tensor, group: Tensor,
                   flat_other: Tensor, width_other: int, num_groups: int) -> Tensor:
    """Each slot's cosine with the counterpart :meth:`CrossGraphAttentionConv.cross_match`
    chose for it (``pick``: a column of its group's dense row of the other side, whose
    slots sit at ``flat_other``), with autograd; ``best`` (the maxima, no autograd) where
    the row held only padding. Shapes: ``(N, F), (M, F), (N,), (N,), (N,), (M,) -> (N,)``."""
    slot_at = torch.full((num_groups * width_other,), -1, dtype=torch.long, device=z.device)
    slot_at[flat_other] = torch.arange(flat_other.numel(), device=z.device)
    other = slot_at.index_select(0, group * width_other + pick)
    cosine = (z * z_other.index_select(0, other.clamp(min=0))).sum(-1)
    return torch.where(other >= 0, cosine, best)


class RowProjections(NamedTuple):
    """A layer's row-wise projections of a table of input rows, computed once
    (:meth:`CrossGraphAttentionConv.project_rows`) and read through ``x_index`` by many
    batches: ``msg``, ``own`` ``(R, F_out)``; ``query``, ``cross`` ``(R, F_out)`` or ``None``
    when that attention is off."""

    msg: Tensor
    own: Tensor
    query: Tensor | None
    cross: Tensor | None


class CrossGraphAttentionConv(MessagePassing):
    r"""Relation-aware aggregation over a sampled computation tree with self-attention and
    cross-graph attention, from `"Collective Multi-type Entity Alignment Between Knowledge
    Graphs" <https://arxiv.org/abs/2002.00247>`_ (CG-MuAlign, Zhu et al., WWW 2020).

    A neighbour :math:`j` of slot :math:`i`, reached through relation :math:`r` in direction
    :math:`d`, sends

    .. math::
        \mathbf{m}_{ij} = \mathbf{W}_m \mathbf{x}_j + \mathbf{e}_{r,d}

    weighted by the product of a self-attention and a cross-graph attention term, normalised
    over the neighbours of :math:`i` (a product of exponentials is a sum of logits):

    .. math::
        \alpha_{ij} = \operatorname{softmax}_{j \in \mathcal{N}(i)} \Big(
            \underbrace{\mathbf{a}^{\top} \operatorname{LeakyReLU}(\mathbf{W}_q \mathbf{x}_i
            + \mathbf{m}_{ij})}_{\text{self: is } j \text{ telling for } i}
            + \underbrace{\lambda \, c_j}_{\text{cross}} \Big),
        \qquad
        c_j = \max_{k \in \mathcal{T}'_{\delta(j)}} \cos(\mathbf{W}_c \mathbf{x}_j,
            \mathbf{W}_c \mathbf{x}'_k)

    where :math:`\mathcal{T}'_{\delta(j)}` are the slots of the *other* entity's tree at the
    same depth as :math:`j` (see :meth:`cross_scores`) and :math:`\lambda \ge 0` is learned.
    The update concatenates the slot's own view with the weighted neighbourhood:

    .. math::
        \mathbf{x}'_i = \mathbf{W}_o \big[\, \mathbf{W}_s \mathbf{x}_i \,\Vert\,
            \textstyle\sum_{j} \alpha_{ij} \mathbf{m}_{ij} \big]

    With both attentions off, :math:`\alpha` is the plain mean over neighbours.

    Args:
        in_channels (int): size of each input vector.
        out_channels (int): size of each output vector.
        num_relations (int): number of relation types (each gets one embedding per direction).
        self_attention (bool, optional): learn the self-attention term. (default: :obj:`True`)
        cross_attention (bool, optional): use the cross-graph term when ``cross`` is given.
            (default: :obj:`True`)
        negative_slope (float, optional): LeakyReLU slope of the self-attention.
            (default: :obj:`0.2`)
        cross_scale (float, optional): initial :math:`\lambda`. (default: :obj:`5.0`)
        dropout (float, optional): dropout on the attention weights. (default: :obj:`0.0`)

    Shapes:
        - **input:** slots :math:`(|V|, F_{in})`, edges :math:`(2, |E|)` ``[child, parent]``,
          edge types and directions :math:`(|E|)`, cross scores :math:`(|V|)` or ``None``
        - **output:** :math:`(|V|, F_{out})`; with ``return_attention=True`` also
          :math:`\alpha` of shape :math:`(|E|)`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_relations: int,
        *,
        self_attention: bool = True,
        cross_attention: bool = True,
        negative_slope: float = 0.2,
        cross_scale: float = 5.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(aggr="add", node_dim=0)
        _drop_generated_source(self)
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError("in_channels and out_channels must be positive")
        if num_relations <= 0:
            raise ValueError(f"num_relations must be positive, got {num_relations}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.self_attention = self_attention
        self.cross_attention = cross_attention
        self.negative_slope = negative_slope
        self.cross_scale_init = cross_scale
        self.dropout = dropout

        self.lin_msg = Linear(in_channels, out_channels, bias=False)
        self.rel_emb = Embedding(2 * num_relations, out_channels)
        self.lin_self = Linear(in_channels, out_channels)
        self.lin_out = Linear(2 * out_channels, out_channels)
        if self_attention:
            self.lin_query = Linear(in_channels, out_channels, bias=False)
            self.att = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("lin_query", None)
            self.register_parameter("att", None)
        if cross_attention:
            self.lin_cross = Linear(in_channels, out_channels, bias=False)
            self.log_cross_scale = Parameter(torch.empty(()))
        else:
            self.register_parameter("lin_cross", None)
            self.register_parameter("log_cross_scale", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_msg.reset_parameters()
        self.lin_self.reset_parameters()
        self.lin_out.reset_parameters()
        torch.nn.init.normal_(self.rel_emb.weight, std=0.1)
        if self.lin_query is not None:
            self.lin_query.reset_parameters()
            torch.nn.init.normal_(self.att, std=(1.0 / self.out_channels) ** 0.5)
        if self.lin_cross is not None:
            # Start as a (scaled) identity where shapes allow, so that early cross scores are
            # the input cosines rather than noise.
            torch.nn.init.eye_(self.lin_cross.weight)
            torch.nn.init.constant_(self.log_cross_scale, float(torch.log(torch.tensor(self.cross_scale_init))))

    @property
    def cross_scale(self) -> Tensor:
        r""":math:`\lambda` (0 when cross-graph attention is off)."""
        if self.log_cross_scale is None:
            return torch.zeros(())
        return self.log_cross_scale.exp()

    def cross_project(self, x: Tensor) -> Tensor:
        r"""Unit vectors :math:`\mathbf{W}_c \mathbf{x} / \lVert\cdot\rVert` used by the cross term
        (row-wise, so they can be computed once per entity and gathered per slot)."""
        if self.lin_cross is None:
            raise ValueError("cross_scores needs cross_attention=True")
        return F.normalize(self.lin_cross(x), dim=-1)

    def project_rows(self, x: Tensor) -> RowProjections:
        """Every row-wise projection :meth:`forward` makes of a table ``x`` ``(R, F_in)``,
        for ``forward(..., x_index=..., projections=...)`` (scoring reads one entity table
        for every batch; the outputs are those of ``forward`` on ``x``)."""
        return RowProjections(
            msg=self.lin_msg(x),
            own=self.lin_self(x),
            query=self.lin_query(x) if self.lin_query is not None else None,
            cross=self.cross_project(x) if self.lin_cross is not None else None,
        )

    def cross_scores(
        self, x_a: Tensor, x_b: Tensor, group_a: Tensor, group_b: Tensor, num_groups: int
    ) -> tuple[Tensor, Tensor]:
        r"""For every slot, the best cosine match among the slots of the same group on the
        other side. Groups are the caller's choice; the pair model passes one depth at a time
        with group = pair index, so a neighbour is only compared with the other entity's
        neighbours at the same depth. Slots whose group is empty on the other side get
        :math:`-1`.

        Shapes: :math:`(|V_a|, F_{in}), (|V_b|, F_{in}), (|V_a|), (|V_b|) \to (|V_a|), (|V_b|)`.
        """
        return self.cross_match(self.cross_project(x_a), self.cross_project(x_b), group_a, group_b, num_groups)

    @staticmethod
    def cross_match(
        za: Tensor, zb: Tensor, group_a: Tensor, group_b: Tensor, num_groups: int
    ) -> tuple[Tensor, Tensor]:
        """:meth:`cross_scores` on already projected unit vectors (see :meth:`cross_project`).

        One ``(G, M_a, M_b)`` block of cosines per call, never kept for a backward pass.
        Under autograd the gradient of a maximum is that of the entry chosen (as for
        :func:`torch.max` with ``dim``), so each slot's best cosine is then recomputed from
        its chosen counterpart alone, ``(N, F)`` work: keeping the block for ``amax``'s
        backward (its mask, the mask's float copy, products and sums, each the block's
        size) took two thirds of a training step on dbp15k_fr_en. Without autograd (scoring)
        the values are the block's maxima themselves."""
        flat_a, width_a = _dense_positions(group_a, num_groups)
        flat_b, width_b = _dense_positions(group_b, num_groups)
        grad = torch.is_grad_enabled() and (za.requires_grad or zb.requires_grad)
        with torch.no_grad():
            da = za.new_zeros(num_groups * width_a, za.size(1)).index_copy_(0, flat_a, za)
            db = zb.new_zeros(num_groups * width_b, zb.size(1)).index_copy_(0, flat_b, zb)
            pad_a = za.new_full((num_groups * width_a,), _PAD).index_fill_(0, flat_a, 0.0)
            pad_b = zb.new_full((num_groups * width_b,), _PAD).index_fill_(0, flat_b, 0.0)
            da, db = da.view(num_groups, width_a, -1), db.view(num_groups, width_b, -1).transpose(1, 2)
            if not grad:
                # padding slots carry a large negative offset, added in the product itself
                # (cosines of unit vectors are >= -1); the maxima alone, no argmax
                sim = torch.baddbmm(pad_a.view(num_groups, width_a, 1) + pad_b.view(num_groups, 1, width_b),
                                    da, db)
                best_a = sim.amax(2).view(-1).index_select(0, flat_a)
                best_b = sim.amax(1).view(-1).index_select(0, flat_b)
                # a group empty on the other side leaves only padding in the row: -1 (no match)
                return _no_match_below(best_a), _no_match_below(best_b)
            # training: the offsets added in place (no block-sized temporaries to fault in)
            sim = torch.bmm(da, db)
            sim.add_(pad_a.view(num_groups, width_a, 1)).add_(pad_b.view(num_groups, 1, width_b))
            best_a, pick_a = sim.max(2)
            best_b, pick_b = sim.max(1)
            best_a, best_b = best_a.view(-1).index_select(0, flat_a), best_b.view(-1).index_select(0, flat_b)
        best_a = _chosen_cosine(za, zb, best_a, pick_a.view(-1).index_select(0, flat_a),
                                group_a, flat_b, width_b, num_groups)
        best_b = _chosen_cosine(zb, za, best_b, pick_b.view(-1).index_select(0, flat_b),
                                group_b, flat_a, width_a, num_groups)
        return _no_match_below(best_a), _no_match_below(best_b)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        edge_dir: Tensor,
        cross: Tensor | None = None,
        return_attention: bool = False,
        *,
        x_index: Tensor | None = None,
        targets: Tensor | None = None,
        projections: RowProjections | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``x`` is either one row per slot, or (with ``x_index``, ``(N,)``) a table of
        distinct rows that slot ``i`` reads as ``x[x_index[i]]``: every projection is then
        computed once per row instead of once per slot (an entity fills many slots, and a
        source's tree is repeated for each of its candidates). ``projections``
        (:meth:`project_rows` of that table, with ``x_index`` only) skips computing them at
        all. ``targets`` (slot ids) restricts the output to those slots (e.g. the seeds in
        the last layer); the result has one row per target, in that order."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"x must be (num_slots, {self.in_channels}), got {tuple(x.shape)}")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must be (2, E), got {tuple(edge_index.shape)}")
        n = x.size(0) if x_index is None else x_index.numel()
        if cross is not None and cross.shape != (n,):
            raise ValueError(f"cross must be (num_slots,), got {tuple(cross.shape)}")
        if projections is not None and x_index is None:
            raise ValueError("projections are of a table: give x_index with them")
        child, parent = edge_index
        if x_index is not None:  # project the table, then gather per slot
            row_child, row_parent = x_index.index_select(0, child), x_index.index_select(0, parent)
            msg = (projections.msg if projections is not None else self.lin_msg(x)).index_select(0, row_child)
        elif child.numel() < n:  # few edges (e.g. into the seeds only): gather first
            row_child, row_parent = child, parent
            msg = self.lin_msg(x.index_select(0, child))
        else:
            row_child, row_parent = child, parent
            msg = self.lin_msg(x).index_select(0, child)
        msg = msg + self.rel_emb(2 * edge_type + edge_dir)  # (E, F_out)
        logit = torch.zeros(child.numel(), dtype=x.dtype, device=x.device)
        if self.lin_query is not None:
            if x_index is None and child.numel() < n:
                q = self.lin_query(x.index_select(0, parent))
            elif projections is not None and projections.query is not None:
                q = projections.query.index_select(0, row_parent)
            else:
                q = self.lin_query(x).index_select(0, row_parent)
            logit = logit + (F.leaky_relu(q + msg, self.negative_slope) * self.att).sum(-1)
        if self.cross_attention and cross is not None:
            logit = logit + self.cross_scale * cross.index_select(0, child)
        alpha = softmax(logit, parent, num_nodes=n)
        alpha_used = F.dropout(alpha, p=self.dropout, training=self.training)
        agg = self.propagate(edge_index, msg=msg, alpha=alpha_used, size=(n, n))
        rows = torch.arange(n, device=x.device) if targets is None else targets
        if targets is not None:
            agg = agg.index_select(0, targets)
        own = rows if x_index is None else x_index.index_select(0, rows)
        if projections is not None:
            own_x = projections.own.index_select(0, own)
        elif x_index is not None and targets is None:
            own_x = self.lin_self(x).index_select(0, own)
        else:
            own_x = self.lin_self(x.index_select(0, own))
        out = self.lin_out(torch.cat([own_x, agg], dim=-1))
        return (out, alpha) if return_attention else out

    def message(self, msg: Tensor, alpha: Tensor) -> Tensor:
        return alpha.unsqueeze(-1) * msg

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_relations={self.num_relations}, self_attention={self.self_attention}, "
            f"cross_attention={self.cross_attention})"
        )
