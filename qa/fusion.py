"""Reciprocal rank fusion's constant: the retriever fuses with it, and the answer model's
passage features read fused scores in its units ("a first place in one ranking")."""

RRF_K = 60
