"""The one explicit list of every supported model. Adding a model is one line here."""

from __future__ import annotations

from decoders.families.elsys import ERS, ERS_CO2, ERS_EYE
from decoders.families.milesight import AM104, AM308, AM319, VS121, VS133
from decoders.spec import DecoderSpec

SPECS: tuple[DecoderSpec, ...] = (
    ERS,
    ERS_CO2,
    ERS_EYE,
    AM104,
    AM308,
    AM319,
    VS121,
    VS133,
)
