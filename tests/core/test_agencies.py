"""Agencies and mutual aid: the pure rules, the deployment's `[[agencies]]` and
`[mutual_aid]` (the shipped Albuquerque example and refusals), and the recommender's
cross-agency candidates."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from dfr.agencies import MutualAid, may_see
from dfr.auth import Role, UserDirectory, UsersFileError, demo_users, write_users_file
from dfr.deployment import DeploymentError, load_deployment
from dfr.recommend import recommend
from missions.geo import GeoPoint

ALBUQUERQUE = Path(str(resources.files("dfr") / "data" / "albuquerque" / "albuquerque.toml"))
#: A scene in each jurisdiction of the example.
APD_SCENE = GeoPoint(35.0900, -106.6400)
BCSO_SCENE = GeoPoint(35.0000, -106.6900)
ISLETA_SCENE = GeoPoint(35.0200, -106.6000)


@pytest.fixture(scope="module")
def abq():
    return load_deployment(ALBUQUERQUE)


def test_the_example_loads_with_three_agencies_and_every_rule(abq) -> None:
    agencies = abq.agencies
    assert agencies.ids == ("apd", "bcso", "isleta")
    assert agencies.of_station("apd-downtown") == "apd"
    assert agencies.of_station("bcso-south-valley") == "bcso"
    assert agencies.of_station("isleta") == "isleta"
    assert {agencies.rule(o, i) for o in agencies.ids for i in agencies.ids if o != i} == set(
        MutualAid
    )
    assert agencies.rule("isleta", "apd") is MutualAid.NEVER
    assert agencies.rule("bcso", "isleta") is MutualAid.PILOT_CONFIRM
    assert agencies.rule("apd", "bcso") is MutualAid.ALWAYS
    assert agencies.rule("apd", "apd") is MutualAid.ALWAYS
    assert agencies.of_source("gunshot") == "apd"
    assert abq.launch_policies.policies[0].agency == "apd"


def test_a_point_belongs_to_the_jurisdiction_it_is_in_else_to_the_reporter(abq) -> None:
    agencies = abq.agencies
    assert agencies.agency_at(APD_SCENE) == "apd"
    assert agencies.agency_at(BCSO_SCENE) == "bcso"
    assert agencies.agency_at(ISLETA_SCENE) == "isleta"
    far = GeoPoint(34.5, -106.0)
    assert agencies.agency_at(far, "isleta") == "isleta"
    assert agencies.agency_at(far, "no-such-agency") == "apd"  # the first listed
    assert agencies.agency_at(far) == "apd"


def test_who_sees_what() -> None:
    assert may_see(None, ["apd"])
    assert may_see(frozenset({"apd"}), ["apd"])
    assert may_see(frozenset({"apd"}), ["bcso", "apd"])  # shared with apd
    assert not may_see(frozenset({"apd"}), ["bcso"])
    assert may_see(frozenset({"apd"}), [None])  # the implicit agency's: everyone's


def test_a_launch_policy_of_an_agency_takes_that_agencys_calls_only(abq) -> None:
    from datetime import datetime

    from dfr.store import CallRecord

    policy = abq.launch_policies.policies[0]
    lat, lon = 35.085, -106.650  # downtown, in the policy's zone
    base = dict(id=1, created_at="", latitude_deg=lat, longitude_deg=lon, priority=1)
    base |= dict(source="gunshot", summary="", external_id="a", status="new", confidence=0.9)
    now = datetime(2026, 1, 1, 12, 0)
    assert policy.mismatch(CallRecord(**base, agency="apd"), now) is None
    why = policy.mismatch(CallRecord(**base, agency="bcso"), now)
    assert why == "the call is not agency apd's"
    assert policy.describe()["agency"] == "apd"


def test_a_deployment_without_agencies_is_one_implicit_agency() -> None:
    pueblo = load_deployment()
    assert not pueblo.agencies
    assert pueblo.agencies.agency_at(GeoPoint(38.25, -104.6)) is None
    assert pueblo.agencies.rule(None, None) is MutualAid.ALWAYS
    rec = recommend(pueblo, GeoPoint(38.2544, -104.6091))
    assert len(rec.candidates) == 3
    assert all(c.agency is None and c.mutual_aid is None for c in rec.candidates)


def test_the_recommender_ranks_other_agencies_drones_by_their_rule(abq) -> None:
    isleta = recommend(abq, ISLETA_SCENE)
    marked = {c.station_id: (c.agency, c.mutual_aid) for c in isleta.candidates}
    assert marked["isleta"] == ("isleta", None)
    assert marked["bcso-south-valley"] == ("bcso", MutualAid.PILOT_CONFIRM)
    assert marked["apd-downtown"] == ("apd", MutualAid.PILOT_CONFIRM)
    bcso_json = next(c for c in isleta.as_json()["candidates"] if c["agency"] == "bcso")
    assert bcso_json["mutual_aid"] == "pilot_confirm"
    apd = recommend(abq, APD_SCENE)
    listed = {c.station_id for c in apd.candidates} | {e.station_id for e in apd.excluded}
    assert "isleta" not in listed  # isleta -> apd: never, not offered at all
    bcso = recommend(abq, BCSO_SCENE)
    assert {c.station_id: c.mutual_aid for c in bcso.candidates}["apd-downtown"] is (
        MutualAid.ALWAYS
    )


def _copy(tmp_path: Path) -> Path:
    for path in ALBUQUERQUE.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / ALBUQUERQUE.name


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    path = _copy(tmp_path)
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'stations = ["isleta"]',
            'stations = ["isleta", "nowhere"]',
            "agency 'isleta': field 'stations': no station 'nowhere'",
        ),
        (
            'stations = ["isleta"]',
            'stations = ["isleta", "apd-northeast"]',
            "station 'apd-northeast' is already agency 'apd''s",
        ),
        (
            'stations = ["isleta"]',
            "stations = []",
            "station 'isleta' belongs to no agency",
        ),
        (
            'jurisdiction = "isleta-jurisdiction.geojson"',
            'jurisdiction = "apd-jurisdiction.geojson"',
            "agency 'isleta': field 'jurisdiction' overlaps agency 'apd''s",
        ),
        (
            'jurisdiction = "isleta-jurisdiction.geojson"',
            'jurisdiction = {type = "Point", coordinates = [-106.6, 35.0]}',
            "agency 'isleta': field 'jurisdiction' must be a Polygon or MultiPolygon",
        ),
        (
            'jurisdiction = "isleta-jurisdiction.geojson"',
            'jurisdiction = {type = "Polygon", coordinates = [[[0, 0], [1, 1], [0, 1], [1, 0],'
            " [0, 0]]]}",
            "agency 'isleta': field 'jurisdiction' is not a valid polygon",
        ),
        (
            'jurisdiction = "isleta-jurisdiction.geojson"',
            'jurisdiction = "missing.geojson"',
            "agency 'isleta': field 'jurisdiction': cannot read missing.geojson",
        ),
        (
            'bcso = "always"\nisleta = "pilot_confirm"',
            'bcso = "always"\nisleta = "sometimes"',
            "field 'mutual_aid.apd.isleta'",
        ),
        ("[mutual_aid.isleta]", "[mutual_aid.tribal]", "field 'mutual_aid.tribal': no agency"),
        ('apd = "never"', 'fusion = "never"', "field 'mutual_aid.isleta.fusion': no agency"),
        ('apd = "never"', 'isleta = "never"', "an agency always flies in its own"),
        ('agency = "apd"\nsources', 'agency = "sfpd"\nsources', "field 'agency': no agency 'sfpd'"),
        (
            'stations = ["bcso-south-valley"]',
            'stations = ["bcso-south-valley"]\nsources = ["cad"]',
            "source 'cad' already reports to agency 'apd'",
        ),
        ('id = "bcso"', 'id = "apd"', "agency 'apd': duplicate agency id"),
    ],
)
def test_bad_agencies_are_refused_naming_the_agency_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(DeploymentError) as refused:
        load_deployment(_edited(tmp_path, old, new))
    assert message in str(refused.value)


def test_mutual_aid_without_agencies_is_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    text = path.read_text()
    start, end = text.index("[[agencies]]"), text.index("[mutual_aid.apd]")
    policy = 'agency = "apd"\n'
    path.write_text((text[:start] + text[end:]).replace(policy, ""))
    with pytest.raises(DeploymentError, match="field 'mutual_aid': there are no"):
        load_deployment(path)


def test_users_carry_their_agency_and_granted_agencies(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    write_users_file(
        users,
        {
            "a": (Role.DISPATCHER, "pw", "apd", ()),
            "fusion": (Role.RTCC, "pw", None, ("apd", "bcso")),
            "boss": (Role.ADMIN, "pw"),
        },
    )
    directory = UserDirectory.load(users)
    assert directory.get("a").agencies == frozenset({"apd"})
    assert directory.get("fusion").agencies == frozenset({"apd", "bcso"})
    assert directory.get("boss").agencies is None
    users.write_text(users.read_text().replace('agency = "apd"', "agency = 7"))
    with pytest.raises(UsersFileError, match="field 'agency'"):
        UserDirectory.load(users)


def test_demo_users_per_agency_with_a_fusion_center() -> None:
    assert set(demo_users()) == {"dispatcher", "pilot", "rtcc", "admin", "officer"}
    users = demo_users(("apd", "bcso"))
    assert users["apd-dispatcher"] == (Role.DISPATCHER, "apd", ())
    assert users["fusion"] == (Role.RTCC, None, ("apd", "bcso"))
    assert users["admin"] == (Role.ADMIN, None, ())


def test_another_agencys_drone_in_the_air_is_never_re_tasked(abq) -> None:
    from dfr.recommend import AirborneDrone, DroneAvailability, ExclusionKind

    def returning(station_id: str, at: GeoPoint) -> dict[str, AirborneDrone]:
        flying = AirborneDrone(7, "returning", 3, 3, at, 60.0, 0.0, 0.0, 90.0)
        return {station_id: flying}

    busy = {"bcso-south-valley": DroneAvailability(docked=False, sortie_id="7")}
    near = GeoPoint(35.0190, -106.6010)  # right by the Isleta scene
    other = recommend(
        abq, ISLETA_SCENE, busy, airborne=returning("bcso-south-valley", near), priority=1
    )
    excluded = {e.station_id: e.kind for e in other.excluded}
    assert excluded["bcso-south-valley"] is ExclusionKind.ON_SORTIE
    busy = {"isleta": DroneAvailability(docked=False, sortie_id="7")}
    own = recommend(abq, ISLETA_SCENE, busy, airborne=returning("isleta", near), priority=1)
    assert own.best is not None
    assert own.best.station_id == "isleta"
    assert own.best.airborne
