"""kgn-align: entity alignment for knowledge graphs stored in Neo4j.

Stages of the data flow, a module each: :mod:`config` -> :mod:`graph` (all Bolt traffic)
-> :mod:`loaders` (benchmark data in) -> :mod:`sampling` (two-hop neighbourhoods) ->
:mod:`features` -> :mod:`candidates` -> :mod:`model` -> :mod:`training` -> :mod:`scoring`
-> :mod:`writeback` (SAME_AS out), driven by :mod:`cli` or :mod:`worker`.
"""

from kgn_align.errors import KgnAlignError

__version__ = "0.1.0"
__all__ = ["KgnAlignError", "__version__"]
