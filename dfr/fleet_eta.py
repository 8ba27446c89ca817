"""The fleet's ETA figures, drone by drone: the deployment's until a drone has flown
enough sorties straight to their scene, then fitted to its own (`dfr.eta_calibration`).

    fleet_eta = await FleetEta.open(deployment, store)
    fleet_eta.of("dfr-1")          # what the dispatcher ranks dfr-1 by
    await fleet_eta.learn(...)     # a sortie of dfr-1 is down: refit from its samples

The samples and the fitted figures are in the store (`dfr.eta_store`), so a restarted
server ranks by the same figures. Each change of a drone's figures is audited there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from dfr.deployment import Deployment
from dfr.eta_calibration import DroneEta, FlownSample, flown_sample, interruption, refit
from dfr.eta_store import EtaStore
from dfr.store import Store
from missions.profile import DroneProfile
from missions.route import Route
from missions.sortie import SortieEvent, SortieTimeline, Transition

log = logging.getLogger(__name__)


class UnknownDrone(LookupError):
    """No drone with that id in the deployment."""


class FleetEta:
    """Each drone's ETA figures; `open` it on an open store."""

    def __init__(self, deployment: Deployment, section: EtaStore) -> None:
        self.deployment = deployment
        self.policy = deployment.eta_calibration
        self._section = section
        self._drones = {s.drone.id: s for s in deployment.stations}
        self._current = {d: DroneEta(deployment.eta) for d in self._drones}

    @classmethod
    async def open(cls, deployment: Deployment, store: Store) -> FleetEta:
        """The figures the store kept (a drone calibrated before a restart stays so)."""
        fleet_eta = cls(deployment, await EtaStore.attach(store))
        await fleet_eta._load()
        return fleet_eta

    async def _load(self) -> None:
        saved = await self._section.calibrations()
        kept = await self._section.sample_counts()
        for drone_id in self._drones:
            row = saved.get(drone_id)
            if row is None:
                self._current[drone_id] = DroneEta(self.deployment.eta, kept=kept.get(drone_id, 0))
                continue
            params = replace(
                self.deployment.eta,
                launch_latency_s=row.launch_latency_s,
                horizontal_accel_m_s2=row.horizontal_accel_m_s2,
            )
            self._current[drone_id] = DroneEta(params, True, row.flights, kept.get(drone_id, 0))

    def of(self, drone_id: str) -> DroneEta:
        """The figures `drone_id` is ranked by. Raises UnknownDrone."""
        try:
            return self._current[drone_id]
        except KeyError:
            raise UnknownDrone(f"no drone {drone_id!r}") from None

    def current(self) -> dict[str, DroneEta]:
        """Every drone's figures, by drone id."""
        return dict(self._current)

    async def samples(self, drone_id: str) -> list[FlownSample]:
        """The flights the drone's figures are fitted to (the last kept), oldest first."""
        return await self._section.samples(drone_id)

    def view(self, drone_id: str) -> dict[str, object]:
        """A drone's figures as the API and the consoles show them. Raises UnknownDrone."""
        eta = self.of(drone_id)
        defaults = self.deployment.eta
        return {
            "drone_id": drone_id,
            "station_id": self._drones[drone_id].id,
            **eta.as_json(),
            "calibrate_after_flights": self.policy.min_flights,
            "flights_kept": self.policy.kept_flights,
            "deployment": {
                "launch_latency_s": defaults.launch_latency_s,
                "horizontal_accel_m_s2": defaults.horizontal_accel_m_s2,
            },
        }

    async def learn(
        self,
        drone_id: str,
        sortie_id: int,
        route: Route,
        drone: DroneProfile,
        timeline: SortieTimeline,
        transitions: Sequence[Transition],
        events: Sequence[SortieEvent],
    ) -> DroneEta | None:
        """Take a finished sortie: keep it as a sample if it flew straight to its scene,
        refit the drone, and store (and audit) its figures when they change. Returns the
        drone's figures after the sample, None when the sortie was no sample."""
        why_not = interruption(timeline, transitions, events)
        if why_not is not None:
            log.info("sortie %d does not calibrate %s's ETA: %s", sortie_id, drone_id, why_not)
            return None
        sample = flown_sample(drone_id, sortie_id, route, drone, timeline)
        kept = await self._section.add_sample(sample, self.policy.kept_flights)
        before = self.of(drone_id)
        # Tens of milliseconds of fitting on a quiet machine: not on the event loop.
        now = await asyncio.to_thread(refit, kept, self.deployment.eta, self.policy)
        if _figures(now) != _figures(before):
            await self._section.save(drone_id, now, before)
        self._current[drone_id] = now
        return now


def _figures(eta: DroneEta) -> tuple[object, ...]:
    """What a change of is audited: the figures, and where they come from."""
    return (eta.params, eta.calibrated, eta.flights)
