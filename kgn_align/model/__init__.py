"""The GNN: :class:`CrossGraphAttentionConv` layers, the pair scorer and the bi-encoder."""

from kgn_align.model.layers import CrossGraphAttentionConv
from kgn_align.model.pair_model import EntityEncoder, ModelConfig, PairModel, PairOutput

__all__ = ["CrossGraphAttentionConv", "EntityEncoder", "ModelConfig", "PairModel", "PairOutput"]
