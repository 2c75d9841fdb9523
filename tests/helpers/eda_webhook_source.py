"""ansible-rulebook's own webhook event source (eda.builtin.webhook) and insert_hosts_to_meta
filter, run on loopback without the rules engine (no Java), so a test can see exactly what a
rulebook would get. Each accepted event is printed to stdout as one JSON line. Runs under the EDA
virtualenv's Python:

    .venv-eda/bin/python tests/helpers/eda_webhook_source.py PORT SECRET HOST_PATH
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from ansible_rulebook.event_filter import insert_hosts_to_meta
from ansible_rulebook.event_source import webhook


async def main(port: int, secret: str, host_path: str) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    arguments = {"host": "127.0.0.1", "port": port, "hmac_secret": secret}
    source = asyncio.create_task(webhook.main(queue, arguments))
    while not source.done():
        getter = asyncio.create_task(queue.get())
        await asyncio.wait({getter, source}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            event = insert_hosts_to_meta.main(getter.result(), host_path=host_path)
            print(json.dumps(event), flush=True)
    source.result()  # the source's own error, if it stopped


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
