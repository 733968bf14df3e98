"""Encoders producing each model's real payload format; the inverse of ``decoders``.

``ENCODERS[model_key](values) -> (f_port, payload)`` where ``values`` maps
canonical (or declared) field names to numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from firmware_sim.encoders import (
    browan,
    decentlab,
    dingtek,
    dragino,
    elsys,
    laird,
    milesight,
    netvox,
    paxcounter,
    uradmonitor,
)

EncodeFn = Callable[[Mapping[str, float]], tuple[int, bytes]]

ENCODERS: dict[str, EncodeFn] = {
    "decentlab-dl-sht35": decentlab.encode_dl_sht35,
    "decentlab-dl-pm": decentlab.encode_dl_pm,
    "dragino-lht65n": dragino.encode_lht65n,
    "dragino-laq4": dragino.encode_laq4,
    "netvox-r711": netvox.encode_r711,
    "netvox-ra0715": netvox.encode_ra0715,
    "elsys-ers": elsys.encode_ers,
    "elsys-ers-co2": elsys.encode_ers_co2,
    "elsys-ers-eye": elsys.encode_ers_eye,
    "milesight-am104": milesight.encode_am104,
    "milesight-am308": milesight.encode_am308,
    "milesight-am319": milesight.encode_am319,
    "milesight-vs121": milesight.encode_vs121,
    "milesight-vs133": milesight.encode_vs133,
    "browan-tbhh100": browan.encode_tbhh100,
    "browan-tbms100": browan.encode_tbms100,
    "laird-rs1xx-temp-rh": laird.encode_rs1xx_temp_rh,
    "uradmonitor-industrial": uradmonitor.encode_industrial,
    "paxcounter": paxcounter.encode_paxcounter,
    "dingtek-dc520": dingtek.encode_dc520,
}
