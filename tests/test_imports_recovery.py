"""An imports service that dies in the middle of a file: after a restart the import is failed
cleanly (``Interrupted``), trades drops what it had staged, and nothing of it is ever visible."""

from __future__ import annotations

import asyncio

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
