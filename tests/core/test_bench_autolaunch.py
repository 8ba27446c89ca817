"""What `dfr bench autolaunch` measures: the deployment's own immediate gunshot policy at
any hour, and an alert inside its zone."""

from __future__ import annotations

from dataclasses import replace

from dfr.bench_autolaunch import alert_point, bench_policy
from dfr.deployment import Deployment
from dfr.launch_policies import LaunchPolicies


def test_the_bench_takes_pueblos_gunshot_policy_without_its_hours(pueblo: Deployment) -> None:
    policy = bench_policy(pueblo)
    assert policy.name == "gunshot-night"
    assert policy.hours is None
    assert policy.area is not None
    station, scene = alert_point(policy, pueblo.stations)
    assert station.id == "eastside"
    assert policy.area.contains(scene)
    assert 299.0 < station.position.distance_m(scene) < 301.0


def test_a_deployment_without_a_gunshot_policy_gets_a_plain_one(pueblo: Deployment) -> None:
    bare = replace(pueblo, launch_policies=LaunchPolicies())
    policy = bench_policy(bare)
    assert (policy.name, policy.min_confidence, policy.min_rounds) == ("bench-gunshot", 0.8, 2)
    station, _ = alert_point(policy, bare.stations)
    assert station.id == "hq"
