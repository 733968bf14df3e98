"""Derived series people act on: damp and mould risk, the UK DAQI, footfall counts."""
