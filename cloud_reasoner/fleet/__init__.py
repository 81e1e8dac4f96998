"""Idle-time fleet compute (issue 5): the cloud dispatches batch jobs to parked, opted-in vehicles.

The BOINC model: jobs are work units with deadlines and re-issue; results from untrusted hosts are
replicated and compared within a tolerance (quorum); a host with a record of valid results is trusted
and then only spot-checked; credit is granted only after validation, exactly once per (job, vehicle).

Modules: `policy` (eligibility, a pure function), `blobs` (content addressing), `jobs` (the real job
types and their executors), `validation` (result comparison), `store` (the job store interface and its
SQLite implementation), `service` (the gRPC servicer), `server` (serving), `client` and `agent` (the
vehicle side), `simulator` (many virtual vehicles against a real server), `status`.
"""
