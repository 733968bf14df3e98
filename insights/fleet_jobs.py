"""One fleet tick: services checked, device health assessed, notices queued and sent.

What ``leedswin fleet run`` and ``leedswin up`` call every ``FleetSettings.interval``
seconds: InfluxDB (``/ping``) and the MQTT broker (TCP connect) are recorded as
up or down; ``FleetJob`` assesses every device; every state change, every damp
alert opened or escalated and every Awaab's Law step due or overdue becomes a
notice (``insights.notify``), queued once and dispatched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.errors import QueryError
from core.settings import FleetSettings, InfluxSettings, MqttSettings
from insights.fleet import (
    DeviceHealth,
    FleetJob,
    FleetStore,
    Transition,
    check_services,
    run_forever,
    tcp_reachable,
)
from insights.notify import (
    DispatchReport,
    Notice,
    Notifier,
    alerts_for_notices,
    damp_notices,
    fleet_notice,
    load_config,
)
from storage.devices import DeviceRecord, DeviceRegistry, load_devices
from storage.influx import make_sink
from storage.query import InfluxQL

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    at: datetime
    devices: int = 0
    transitions: list[Transition] = field(default_factory=list)
    healths: list[DeviceHealth] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    queued: int = 0
    dispatch: DispatchReport | None = None


class FleetService:
    """The fleet's scheduled work, wired to its stores; ``tick(now)`` is one run."""

    def __init__(
        self,
        job: FleetJob,
        store: FleetStore,
        registry: Path,
        notifier: Notifier | None = None,
        services: dict[str, Callable[[], tuple[bool, str]]] | None = None,
        wards: Callable[[str], str] = lambda dev_eui: "",
    ) -> None:
        self.job = job
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.services = services or {}
        self.wards = wards

    def _muted(self, notice: Notice, now: datetime) -> bool:
        if not notice.thread.startswith("fleet:"):
            return False
        event_id = int(notice.thread.split(":", 1)[1])
        return self.store.muted(notice.dev_eui, event_id, notice.event.endswith(".recovered"), now)

    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or datetime.now(UTC)
        report = TickReport(at=now)
        report.transitions += check_services(self.store, self.services, now)
        try:
            job_report, report.healths = self.job.run(now)
        except QueryError as exc:
            # InfluxDB down: the service check has recorded it; tell people, skip devices.
            log.warning("event=fleet_health_skipped error=%s", exc)
        else:
            report.devices = job_report.devices
            report.transitions += job_report.transitions
        if self.notifier is None:
            return report
        report.notices = [fleet_notice(t) for t in report.transitions]
        report.notices += damp_notices(alerts_for_notices(self.registry), self.wards, now)
        report.queued = self.notifier.enqueue(report.notices, now)
        report.dispatch = self.notifier.dispatch(now)
        log.info(
            "event=fleet_tick devices=%d transitions=%d queued=%d sent=%d failed=%d dead=%d",
            report.devices,
            len(report.transitions),
            report.queued,
            report.dispatch.sent,
            report.dispatch.failed,
            report.dispatch.dead,
        )
        return report


def _registry_reader(path: Path | None) -> Callable[[], dict[str, DeviceRecord]]:
    if path is None:
        return dict
    return lambda: load_devices(path) if path.exists() else {}


@contextmanager
def open_fleet(
    settings: FleetSettings,
    influx: InfluxSettings,
    registry: Path,
    device_registry: Path | None = None,
    mqtt: MqttSettings | None = None,
) -> Iterator[FleetService]:
    """A ``FleetService`` on the real InfluxDB, registry database and notification config.

    The device registry, the notifications file and InfluxDB are checked before the registry
    database is opened, so a run that cannot start creates no database file."""
    devices = DeviceRegistry(device_registry)
    config = load_config(settings.notifications) if settings.notifications is not None else None
    query = InfluxQL(influx)
    sink = make_sink(influx)
    try:
        sink.ensure_database()
        store = FleetStore(registry)
        notifier = Notifier(config, registry) if config is not None else None
        services: dict[str, Callable[[], tuple[bool, str]]] = {
            "influxdb": lambda: (query.ping(), "no answer to /ping"),
        }
        if mqtt is not None:
            services["broker"] = lambda: tcp_reachable(mqtt.host, mqtt.port)
        service = FleetService(
            FleetJob(settings, query, sink, store, _registry_reader(device_registry)),
            store,
            registry,
            notifier,
            services,
            wards=lambda dev_eui: r.ward if (r := devices.get(dev_eui)) else "",
        )
        if notifier is not None:
            notifier.muted = service._muted
        yield service
    finally:
        query.close()
        sink.close()


def run_fleet(
    settings: FleetSettings,
    influx: InfluxSettings,
    registry: Path,
    stop: threading.Event,
    device_registry: Path | None = None,
    mqtt: MqttSettings | None = None,
) -> None:
    """What ``leedswin up`` runs in a thread: a tick every ``settings.interval`` until ``stop``."""
    with open_fleet(settings, influx, registry, device_registry, mqtt) as service:
        run_forever(service.tick, settings.interval, stop, "fleet_tick")
