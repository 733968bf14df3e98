"""The one explicit list of every supported model. Adding a model is one line here."""

from __future__ import annotations

from decoders.families.browan import TBHH100, TBMS100
from decoders.families.decentlab import DL_PM, DL_SHT35
from decoders.families.dingtek import DC520
from decoders.families.dragino import LAQ4, LHT65N
from decoders.families.elsys import ERS, ERS_CO2, ERS_EYE
from decoders.families.laird import RS1XX_TEMP_RH
from decoders.families.milesight import AM104, AM308, AM319, VS121, VS133
from decoders.families.netvox import R711, RA0715
from decoders.families.paxcounter import PAXCOUNTER
from decoders.families.uradmonitor import INDUSTRIAL
from decoders.spec import DecoderSpec

SPECS: tuple[DecoderSpec, ...] = (
    DL_SHT35,
    DL_PM,
    LHT65N,
    LAQ4,
    R711,
    RA0715,
    ERS,
    ERS_CO2,
    ERS_EYE,
    AM104,
    AM308,
    AM319,
    VS121,
    VS133,
    TBHH100,
    TBMS100,
    RS1XX_TEMP_RH,
    INDUSTRIAL,
    PAXCOUNTER,
    DC520,
)
