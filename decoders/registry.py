"""The one explicit list of every supported model. Adding a model is one line here."""

from __future__ import annotations

from decoders.spec import DecoderSpec

SPECS: tuple[DecoderSpec, ...] = ()
