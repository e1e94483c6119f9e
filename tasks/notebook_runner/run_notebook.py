"""Executes a notebook in a Jupyter kernel, keeping the outputs that a kernel
publishes after it reports a cell finished.

Deno 2.9's kernel can publish a cell's last messages on IOPub after the
`status: idle` that ends the cell (denoland/deno#24737); nbclient stops
listening for a cell at that idle and drops them. After each code cell this
client sends a `kernel_info_request` as a barrier and reads IOPub until the
barrier's own `idle`: every message in between that belongs to the cell's
request (by `parent_header.msg_id`) is added to the cell as nbclient would
have added it.

Usage: run_notebook.py IN OUT KERNEL CWD TIMEOUT_S ALLOW_ERRORS(0|1)
Prints one JSON line: {"late_outputs": N, "updates": {cell id: N}} (the
late outputs kept, and the in-place updates of live outputs per cell). Exits 1 on a cell error (unless
allowed), with nbclient's message on stderr.
"""
import asyncio
import json
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbclient.util import ensure_async


class PatientClient(NotebookClient):
    """An nbclient that also collects a cell's late IOPub messages."""

    late_outputs = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.updates = {}

    def process_message(self, msg, cell, cell_index):
        # Count the in-place updates of live outputs, per cell.
        if msg["msg_type"] == "update_display_data":
            key = cell.get("id") or str(cell_index)
            self.updates[key] = self.updates.get(key, 0) + 1
        return super().process_message(msg, cell, cell_index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        sent = []
        execute = self.kc.execute

        def recording_execute(*args, **kwargs):
            msg_id = execute(*args, **kwargs)
            sent.append(msg_id)
            return msg_id

        self.kc.execute = recording_execute
        try:
            cell = await super().async_execute_cell(
                cell, cell_index, execution_count, store_history)
        finally:
            self.kc.execute = execute
        if sent:
            await self.collect_late(sent[0], cell, cell_index)
        return cell

    async def collect_late(self, parent_id, cell, cell_index):
        barrier = self.kc.kernel_info()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(30, self.iopub_timeout)
        while loop.time() < deadline:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=1))
            except Exception:  # queue.Empty: nothing yet
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent == barrier:
                if (msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    break
            elif parent == parent_id and msg["msg_type"] != "status":
                self.late_outputs += 1
                self.process_message(msg, cell, cell_index)
        else:
            raise TimeoutError("the kernel did not answer a kernel_info_request")


def main():
    src, out, kernel, cwd, timeout, allow_errors = sys.argv[1:7]
    nb = nbformat.read(src, as_version=4)
    client = PatientClient(
        nb,
        kernel_name=kernel,
        timeout=int(timeout),
        allow_errors=allow_errors == "1",
        resources={"metadata": {"path": cwd}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        print(str(error), file=sys.stderr)
        nbformat.write(nb, out)
        sys.exit(1)
    nbformat.write(nb, out)
    print(json.dumps({"late_outputs": client.late_outputs,
                      "updates": client.updates}))


if __name__ == "__main__":
    main()
