"""`fleetpilot fleet status`: jobs by state, vehicles, credits, from the store."""

from __future__ import annotations

import json
from pathlib import Path

from cloud_reasoner.fleet.store import SqliteFleetStore


def print_status(db: Path, as_json: bool = False, top: int = 10) -> dict:
    store = SqliteFleetStore(db)
    try:
        s = store.summary()
    finally:
        store.close()
    if as_json:
        print(json.dumps(s, indent=1))
        return s
    jobs = s["jobs"]
    print(
        f"jobs      total {s['jobs_total']}: open {jobs['open']}, validated {jobs['validated']}, "
        f"failed {jobs['failed']}; re-issues {s['reissues']}"
    )
    print(f"leases    {', '.join(f'{k} {v}' for k, v in sorted(s['leases'].items())) or 'none'}")
    print(f"results   {', '.join(f'{k} {v}' for k, v in sorted(s['results'].items())) or 'none'}")
    v = s["vehicles"]
    print(
        f"vehicles  registered {v['registered']}, trusted {v['trusted']},"
        f" with invalid results {v['with_invalid']}"
    )
    print(f"credits   {len(s['credits_by_owner'])} owners (double-credited: {s['double_credited']})")
    for row in s["credits_by_owner"][:top]:
        print(
            f"  {row['owner']:<24} results {row['results']:>6}  {row['compute_s']:>10.1f} s  "
            f"{row['energy_wh']:>8.3f} Wh"
        )
    return s
