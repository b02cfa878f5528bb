"""Scenario F's peer: PgQueuer doing the same work as visibility-worker.

Enqueues N jobs whose payload is the grant's JSON body, then one PgQueuer
process drains them, each job one HTTP PUT with that body to the fake API (64
connections, 128 jobs in flight). Prints jobs/s on its last line. With a
fourth argument `reader`, a REPEATABLE READ transaction that read the queue's
table stays open for the whole drain (scenario Q1).
"""
import asyncio
import json
import sys
import time

import aiohttp
import asyncpg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

PATH = "/v1.0/contact/orgAccounts/mobiles/visibleInOtherOrg"


async def main(dsn: str, base_url: str, jobs: int, reader: bool) -> None:
    connection = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(connection))
    await queries.install()
    for start in range(0, jobs, 5000):
        count = min(5000, jobs - start)
        payloads = [
            json.dumps({"toCorpIds": [f"ding{i}"], "optUserId": f"peer-{i}"}, separators=(",", ":")).encode()
            for i in range(start, start + count)
        ]
        await queries.enqueue(["put"] * count, payloads, [0] * count)

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    headers = {"x-acs-dingtalk-access-token": "bench-token", "Content-Type": "application/json"}
    manager = QueueManager(queries)
    failures = 0

    @manager.entrypoint("put")
    async def put(job) -> None:
        nonlocal failures
        async with session.put(base_url + PATH, data=job.payload, headers=headers) as response:
            body = await response.read()
            if response.status != 200 or json.loads(body).get("result") is not True:
                failures += 1

    holder = None
    if reader:
        holder = await asyncpg.connect(dsn)
        await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await holder.fetchval("SELECT count(*) FROM pgqueuer")
    started = time.perf_counter()
    await manager.run(mode=QueueExecutionMode.drain, batch_size=64, max_concurrent_tasks=128)
    elapsed = time.perf_counter() - started
    await session.close()
    if holder is not None:
        await holder.close()
    await connection.close()
    print(f"failures: {failures}")
    print(f"{jobs / elapsed:.0f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["reader"]))
