"""What one request through wsgisession + RedisStore costs, counted in CPU (not wall clock).

    python bench/redis_cost.py              # 3,000 requests per scenario
    python bench/redis_cost.py --quick      # 300
    python bench/redis_cost.py --profile    # and cProfile's top functions of the modified request

Runs the bench's counter app in-process (direct WSGI calls, as bench/inprocess.py) against a
private redis-server (bench/dbservers.py), with the store as bench/serve.py makes it
(``RedisStore.from_url``, default options) and with ``touch_after=3600``. Per scenario: the app
process's CPU per request (``time.process_time``), redis-server's CPU per request (``INFO cpu``,
used_cpu_sys + used_cpu_user, deltas), the µs Redis spent inside the commands the client sent
(``INFO commandstats`` usec of EVALSHA and the like: a script's include the commands it runs;
the rest of the server's CPU is its event loop and sockets), and the commands Redis ran per
request (calls deltas, those inside the Lua scripts included). CPU, not time: on a shared box
the wall clock measures the neighbours, CPU time much less so.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import time
from typing import Any

import dbservers
import inprocess
from apps import wsgisession_app


def redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def commandstats(client: Any) -> dict[str, tuple[int, int]]:
    """name -> (calls, µs spent in it): a script's µs include the commands it runs."""
    return {name.removeprefix("cmdstat_"): (int(stats["calls"]), int(stats["usec"]))
            for name, stats in client.info("commandstats").items()}


def run(app: Any, env: dict[str, Any], n: int, client: Any) -> tuple[float, float, float, dict[str, float]]:
    """(app CPU µs, redis-server CPU µs, µs inside commands, commands) per request over n requests."""
    before_stats, before_cpu = commandstats(client), redis_cpu(client)
    gc.collect()
    gc.disable()
    start = time.process_time()
    try:
        for _ in range(n):
            inprocess.call(app, env)
    finally:
        app_cpu = time.process_time() - start
        gc.enable()
    after_cpu, after_stats = redis_cpu(client), commandstats(client)
    calls = {name: (after_stats[name][0] - before_stats.get(name, (0, 0))[0]) / n for name in after_stats
             if name != "info" and after_stats[name] != before_stats.get(name, (0, 0))}
    top = sum(after_stats[name][1] - before_stats.get(name, (0, 0))[1]
              for name in ("evalsha", "eval", "get", "set", "expire", "zadd") if name in after_stats)
    return app_cpu / n * 1e6, (after_cpu - before_cpu) / n * 1e6, top / n, calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 requests per scenario")
    parser.add_argument("-n", type=int, default=None, help="requests per scenario (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the min is reported")
    parser.add_argument("--profile", action="store_true", help="cProfile the modified request")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 3000)

    import redis

    from wsgisession import RedisStore

    server = dbservers.RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url())
        print(f"redis-server {client.info('server')['redis_version']}, {n} requests per scenario, "
              f"min of {args.repeat}")
        print(f"{'store':<18} {'scenario':<10} {'app µs':>8} {'redis µs':>9} {'in cmds':>8}  commands per request")
        for label, options in (("default", {}), ("touch_after=3600", {"touch_after": 3600})):
            store = RedisStore.from_url(server.url(), **options)
            app = wsgisession_app(store)
            cookie = inprocess.login(app)
            for scenario, path in (("read-only", "/read"), ("modified", "/inc")):
                env = inprocess.environ(path, cookie)
                inprocess.call(app, env)  # (scripts loaded, connection open)
                results = [run(app, env, n, client) for _ in range(args.repeat)]
                app_us = min(r[0] for r in results)
                redis_us = min(r[1] for r in results)
                inside_us = min(r[2] for r in results)
                calls = results[-1][3]
                shown = ", ".join(f"{name} {count:g}" for name, count in sorted(calls.items()))
                print(f"{label:<18} {scenario:<10} {app_us:8.0f} {redis_us:9.0f} {inside_us:8.1f}  {shown}")
            if args.profile and label == "default":
                env = inprocess.environ("/inc", cookie)
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(n):
                    inprocess.call(app, env)
                profile.disable()
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(25)
            store.close()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
