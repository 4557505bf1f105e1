"""An imports service that dies in the middle of a file: after a restart the import is failed
cleanly (``Interrupted``), trades drops what it had staged, and nothing of it is ever visible."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.harness import ServiceProcess, eventually
from tests.test_imports import executions_of, finished, imported, new_trader, round_trips, upload, zerodha_file


async def test_an_import_cut_off_by_a_crash_fails_cleanly_after_the_restart(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    content = zerodha_file(round_trips(0, 60_000))
    response = await upload(client, headers, account_id, content)
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]

    async def reading() -> bool:
        body = (await client.get(f"/api/v1/imports/{import_id}", headers=headers)).json()
        return bool(body["status"] == "staging" and body["counts"]["rows"] >= 10_000)

    await eventually(reading, timeout=120, interval=0.05)
    imports = services["imports"]
    imports.kill()  # SIGKILL: no chance to clean up
    imports.start({"IMPORT_STALL_SECONDS": "3"})
    imports.wait_healthy()

    ended = await finished(client, headers, import_id)
    assert ended["status"] == "failed", ended
    assert ended["error"]["code"] == "Interrupted"
    await asyncio.sleep(3)  # the discard travels after the last staged batch
    assert await executions_of(client, headers, account_id) == []

    # The same file again (its first import failed, so it is no duplicate) is imported in full by
    # the restarted service.
    again = await imported(client, headers, account_id, content)
    assert again["status"] == "completed", again
    assert again["duplicate_of"] is None
    assert again["counts"]["accepted"] == 120_000


async def test_a_start_import_that_is_dead_lettered_leaves_a_failed_import(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    """The gateway answered 202 with the import's id; if the imports service cannot apply the
    StartImport (here a payload it refuses every time), the command goes to the dead-letter topic
    and the import is failed, not unknown: the trader sees why instead of a 404."""
    from aiokafka import AIOKafkaProducer

    from tj_common.contracts import imports as contract
    from tj_common.envelope import Envelope
    from tj_common.settings import ServiceSettings
    from tj_common.topics import IMPORTS_COMMANDS

    headers, account_id = await new_trader(client)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    import_id = uuid.uuid4()
    command = Envelope(
        type=contract.START_IMPORT,
        user_id=uuid.UUID(me["user"]["id"]),
        payload={
            "import_id": str(import_id),
            "account_id": account_id,
            "object_key": f"imports/{import_id}",
            "file_name": "tradebook.csv",
            "size": 10,
            "sha256": "0" * 64,
            "unexpected": "a field this version does not know",  # refused: extra="forbid"
        },
    )
    producer = AIOKafkaProducer(bootstrap_servers=ServiceSettings().kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(IMPORTS_COMMANDS.name, command.encode(), key=command.key())
    finally:
        await producer.stop()

    ended = await finished(client, headers, str(import_id), timeout=60)
    assert ended["status"] == "failed", ended
    assert ended["error"]["code"] == "NotStarted"
    assert "unexpected" in ended["error"]["detail"]
    listed = (await client.get("/api/v1/imports", headers=headers)).json()["items"]
    assert [i["id"] for i in listed] == [str(import_id)]
