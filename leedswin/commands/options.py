"""The connection flags several commands share, declared once (``Annotated`` option types).

Each flag names the env var it overrides; ``None`` means "not given": the settings model
(env var, demo env file, configuration file, default) decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

MqttUrl = Annotated[
    str | None,
    typer.Option(help="mqtt://host:port or mqtts://host:port [LEEDSWIN_MQTT_URL]"),
]
MqttCaFile = Annotated[
    Path | None,
    typer.Option(help="mqtts: CA that signed the broker's certificate [LEEDSWIN_MQTT_CA_FILE]"),
]
MqttCertFile = Annotated[
    Path | None,
    typer.Option(help="mqtts: client certificate (PEM) [LEEDSWIN_MQTT_CERT_FILE]"),
]
MqttKeyFile = Annotated[
    Path | None,
    typer.Option(help="mqtts: client certificate's key (PEM) [LEEDSWIN_MQTT_KEY_FILE]"),
]
InfluxCaFile = Annotated[
    Path | None,
    typer.Option(help="https: CA that signed InfluxDB's certificate [LEEDSWIN_INFLUX_CA_FILE]"),
]
