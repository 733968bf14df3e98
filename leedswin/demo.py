"""The demo's persistent state: one directory (``$LEEDSWIN_HOME``, default ``./.leedswin``).

It holds the servers' data, the key registry, the generated credentials of
every broker and database account (``credentials.json``) and ``demo.env``: the
settings every `leedswin` command reads by default (``core.settings.build``),
so each README command works against the running demo as written. Both files
hold secrets and are created readable by their owner only.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from leedswin.services import BRIDGE_ACCOUNT, HOUSING_ACCOUNT, NETWORK_ACCOUNT, SIM_ACCOUNT
from storage.provision import Account

#: InfluxDB users of the demo, by role (see storage.provision.GRANTS).
INFLUX_USERS = {
    "bridge": "leedswin-bridge",
    "insights": "leedswin-insights",
    "housing": "leedswin-housing",
    "public": "leedswin-public",
}
INFLUX_ADMIN = "leedswin-admin"
MQTT_ACCOUNTS = (BRIDGE_ACCOUNT, NETWORK_ACCOUNT, SIM_ACCOUNT, HOUSING_ACCOUNT, "innovator")


def _private_file(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created 0600, never widened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class Credentials:
    """Passwords of every account, generated once and kept for the next start."""

    mqtt: dict[str, str]
    influx: dict[str, str]

    @classmethod
    def load_or_create(cls, root: Path) -> Credentials:
        path = root / "credentials.json"
        stored: dict[str, dict[str, str]] = {}
        if path.exists():
            stored = json.loads(path.read_text())
        mqtt = {
            name: stored.get("mqtt", {}).get(name) or secrets.token_urlsafe(18)
            for name in MQTT_ACCOUNTS
        }
        names = [INFLUX_ADMIN, *INFLUX_USERS.values()]
        influx = {
            name: stored.get("influx", {}).get(name) or secrets.token_urlsafe(18) for name in names
        }
        credentials = cls(mqtt, influx)
        _private_file(path, json.dumps({"mqtt": mqtt, "influx": influx}, indent=2))
        return credentials

    def influx_account(self, role: str) -> Account:
        name = INFLUX_USERS[role]
        return Account(name, self.influx[name])

    @property
    def influx_admin(self) -> Account:
        return Account(INFLUX_ADMIN, self.influx[INFLUX_ADMIN])


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """``KEY=value`` lines (dotenv), owner-only: read by every `leedswin` command."""
    lines = ["# Written by `leedswin up`: the settings commands run beside the demo use."]
    lines += [f'{key}="{value}"' for key, value in values.items()]
    _private_file(path, "\n".join(lines) + "\n")
