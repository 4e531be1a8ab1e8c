"""A bounded load driver for the demo shop: it stops after --count requests or --max-seconds, whichever first.

    python tools/demo/shop/load.py --frontend http://127.0.0.1:PORT --count 200 --rate 20 \
        [--error-every 10] [--slow-every 15] [--broken-hop-every 0] [--json]

Request i asks for the error path when i % error_every == 0, the slow path when i % slow_every == 1,
a broken hop (with the error path, so it is kept) when i % broken_hop_every == 2 (0 turns a path off). One request at a time, at most
--rate per second. Prints (or returns, from ``drive``) each request's kind, HTTP status and the
trace id the frontend answered with.
"""

import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.request


def kind_of(i, error_every, slow_every, broken_hop_every):
    if error_every and i % error_every == 0:
        return "error"
    if slow_every and i % slow_every == 1 % slow_every:
        return "slow"
    if broken_hop_every and i % broken_hop_every == 2 % broken_hop_every:
        return "broken_hop"
    return "routine"


# A broken-hop request takes the error path too, so tail sampling keeps it and it can be looked at.
FLAG = {"error": "?fail=1", "slow": "?slow=1", "broken_hop": "?broken_hop=1&fail=1", "routine": ""}


def drive(frontend, count=100, max_seconds=60.0, rate=20.0, error_every=10, slow_every=15, broken_hop_every=0, seed=None):
    rng = random.Random(seed)
    started = time.monotonic()
    results = []
    for i in range(count):
        if time.monotonic() - started > max_seconds:
            break
        kind = kind_of(i, error_every, slow_every, broken_hop_every)
        url = "%s/shop/orders/%d%s" % (frontend.rstrip("/"), rng.randrange(10**5, 10**6), FLAG[kind])
        sent_at = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:  # loopback only
                status, body = resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            status, body = err.code, json.loads(err.read() or b"{}")
        results.append({"kind": kind, "status": status, "trace_id": body.get("trace_id"),
                        "ms": round(1000 * (time.monotonic() - sent_at), 1)})
        pause = 1.0 / rate - (time.monotonic() - sent_at) if rate else 0
        if pause > 0:
            time.sleep(pause)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frontend", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--error-every", type=int, default=10)
    parser.add_argument("--slow-every", type=int, default=15)
    parser.add_argument("--broken-hop-every", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = drive(args.frontend, args.count, args.max_seconds, args.rate, args.error_every, args.slow_every,
                    args.broken_hop_every)
    if args.json:
        print(json.dumps(results))
    else:
        kinds = {}
        for r in results:
            kinds.setdefault(r["kind"], []).append(r)
        for kind, items in sorted(kinds.items()):
            print("%-10s %4d requests; e.g. trace %s" % (kind, len(items), items[0]["trace_id"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
