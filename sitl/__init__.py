"""The built-in PX4-compatible MAVLink vehicle simulator, and the PX4 SITL launcher.

CI cannot install PX4 SITL, so dfr carries a vehicle that MAVSDK cannot tell from
PX4 for everything dfr uses: PX4's heartbeat and modes, the command, mission/fence/
rally and parameter protocols, PX4's telemetry streams and rates, a multirotor that
obeys PX4's parameters (and its measured timings), failsafes, and fault injection.
Everything runs in vehicle time, in fixed physics steps, as fast as asked.

Run vehicles::

    python -m sitl --home 38.2544,-104.6091,1430 --home 38.2870,-104.5930,1440 --speed 10
    python -m sitl.bench            # three vehicles at 10x: achieved speed, CPU

Use them from Python::

    async with SimFleet.single(SimConfig(home=GeoPoint(38.2544, -104.6091),
                                          speed_factor=10.0, api_port=port)) as vehicle:
        await drone.connect(system_address=vehicle.mavlink_address)
        state = await vehicle.wait_until(lambda s: s.in_air, timeout_s=30)
        vehicle.faults.gps_loss()

    async with SimFleet.running(configs) as fleet: ...      # N vehicles, one process
    async with px4_sitl(homes, speed_factor=2) as addresses: ...  # real PX4 (DFR_PX4_DIR)

The parts: `config` (SimConfig), `vehicle` (SimVehicle: dispatch, fixed step),
`fleet` (the lockstep clock), `state` (VehicleState snapshots), `faults`; the
vehicle's insides `commander`, `commands`, `navigator`, `mission_runner`, `rtl`,
`guidance`, `physics`, `battery`, `geofence`, `failsafe`, `land_detector`; its
protocols `link`, `wire`, `telemetry`, `mission_transfer`, `param_protocol`,
`params`, `modes`, `mission_items`; tools `tlog_profile` (derives the PX4 reference
profile the tests compare against), `bench`, `px4_launcher`. Errors: `errors`.

Known differences from PX4 SITL (on purpose or not yet done):
- Fast streams run at ~50 Hz, as in the reference log, and never faster than the
  physics step; OPEN_DRONE_ID_*, DISTANCE_SENSOR, ESTIMATOR_STATUS, VIBRATION,
  LINK_NODE_STATUS, EVENT and similar are not sent; MAVLink FTP is not offered.
- Data-link loss needs COM_DL_LOSS_T of vehicle time *and* 3 s of wall time without
  a GCS heartbeat (MAVSDK beats at 1 Hz wall); mission-protocol retries run on the
  wall clock. Everything else is vehicle time.
- The airframe is a tuned kinematic model, not SIH's rigid body: timings match
  the measured ones within the tolerances the tests state, attitudes are plausible.
- OFFBOARD is refused (no setpoint streaming); MANUAL/ALTCTL/POSCTL hold position;
  there is no RC, so no RC-loss failsafe (COM_RC_IN_MODE=1 as in PX4 SITL).
- GF_PREDICT with a delayed action (RTL/land) stops at the boundary at once, where
  PX4 was measured ~44 m inside; mission waypoints are not checked against the
  fence at upload; the battery is a modelled pack, not SIH's 60 s drain to 50 %.
- With the GPS lost, GLOBAL_POSITION_INT keeps coming (dead reckoning) while the
  health flags go false; the position goes invalid after EKF2_NOAID_TOUT.
"""
