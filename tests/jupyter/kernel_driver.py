"""Drives one real Deno Jupyter kernel for the tests, as a front end does.

Reads JSON commands from stdin, one a line, and answers each with one JSON
line on stdout:

- {"op": "execute", "code": ..., "interrupt": [{"when": REGEX} | {"after_s": S}, ...],
   "timeout_s": S}
  runs a cell; each interrupt is sent (SIGINT, as Jupyter's Stop does) when a
  message of the cell shows text matching `when`, or `after_s` seconds after
  the cell started, one after the other. Answers {"messages": [...], "reply":
  execute_reply content, "alive": bool, "interrupts": [seconds sent]}. After
  the cell's idle, a kernel_info_request serves as a barrier and the
  cell's messages published late (denoland/deno#24737) are kept too.
- {"op": "run_all", "cells": [code, ...], "timeout_s": S}
  sends every cell's execute_request at once, as Cell → Run All does, and
  reads IOPub until each has ended and a kernel_info_request's idle has come
  after the last. Answers {"messages": [...], "replies": [status, ...]}: every
  message that is not a status, in order of arrival, each {"cell": the index
  of the request it names as parent (-1: none of them), "msg_type",
  "mime": the MIME types, "text": its text (stream text, text/plain, error),
  "display_id", "late": after that cell's idle}.
- {"op": "alive"}: {"alive": bool}
- {"op": "interrupt", "wait_s": S}: interrupts the idle kernel, waits, and
  answers {"alive": bool}
- {"op": "pid"}: {"pid": the kernel's process id}
- {"op": "shutdown"}

Each message is {"msg_type", "content", "late"} (late: after the cell's idle).
Usage: kernel_driver.py CWD
"""
import json
import queue
import re
import sys
import time

from jupyter_client.manager import start_new_kernel


def text_of(msg):
    content = msg["content"]
    parts = [content.get("text") or "", content.get("evalue") or ""]
    parts += [v for k, v in (content.get("data") or {}).items()
              if k.startswith("text/") and isinstance(v, str)]
    return "\n".join(parts)


def shell_reply(kc, msg_id, timeout=30):
    """The shell reply to request `msg_id` (others are dropped), or None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = kc.get_shell_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]
    return None


def execute(km, kc, cmd):
    msg_id = kc.execute(cmd["code"])
    started = time.monotonic()
    pending = list(cmd.get("interrupt") or [])
    sent = []
    messages = []
    deadline = started + cmd.get("timeout_s", 120)
    idle = False

    def maybe_interrupt(text=None):
        if not pending:
            return
        nxt = pending[0]
        due = ("after_s" in nxt and time.monotonic() - started >= nxt["after_s"]) or \
            ("when" in nxt and text is not None and re.search(nxt["when"], text))
        if due:
            pending.pop(0)
            km.interrupt_kernel()
            sent.append(round(time.monotonic() - started, 3))

    while not idle and time.monotonic() < deadline:
        maybe_interrupt()
        if not km.is_alive():
            break
        try:
            msg = kc.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status":
            idle = msg["content"]["execution_state"] == "idle"
            continue
        messages.append({"msg_type": msg["msg_type"], "content": msg["content"],
                         "late": False})
        maybe_interrupt(text_of(msg))
    reply = None
    if idle:
        reply = shell_reply(kc, msg_id)
        barrier = kc.kernel_info()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent == barrier and msg["msg_type"] == "status" and \
                    msg["content"]["execution_state"] == "idle":
                break
            if parent == msg_id and msg["msg_type"] != "status":
                messages.append({"msg_type": msg["msg_type"],
                                 "content": msg["content"], "late": True})
        shell_reply(kc, barrier)
    return {"messages": messages, "reply": reply, "idle": idle,
            "alive": km.is_alive(), "interrupts": sent}


def run_all(kc, cmd):
    ids = [kc.execute(code) for code in cmd["cells"]]
    index = {msg_id: i for i, msg_id in enumerate(ids)}
    idle = set()
    messages = []
    deadline = time.monotonic() + cmd.get("timeout_s", 600)
    barrier = None
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        parent = msg["parent_header"].get("msg_id")
        if msg["msg_type"] == "status":
            if msg["content"]["execution_state"] != "idle":
                continue
            if parent == barrier:
                break
            if parent in index:
                idle.add(parent)
                if len(idle) == len(ids) and barrier is None:
                    barrier = kc.kernel_info()
            continue
        content = msg["content"]
        data = content.get("data") or {}
        messages.append({
            "cell": index.get(parent, -1),
            "msg_type": msg["msg_type"],
            "mime": sorted(data),
            "text": content.get("text") or data.get("text/plain")
            or content.get("evalue") or "",
            "display_id": (content.get("transient") or {}).get("display_id"),
            "late": parent in idle,
        })
    wanted = set(ids) | ({barrier} if barrier else set())
    replies = {}
    end = time.monotonic() + 30
    while wanted - set(replies) and time.monotonic() < end:
        try:
            msg = kc.get_shell_msg(timeout=0.5)
        except queue.Empty:
            continue
        replies[msg["parent_header"].get("msg_id")] = msg["content"].get("status")
    replies = [replies.get(msg_id) for msg_id in ids]
    return {"messages": messages, "replies": replies}


def main():
    km, kc = start_new_kernel(kernel_name="deno", cwd=sys.argv[1],
                              startup_timeout=120)
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "execute":
                out = execute(km, kc, cmd)
            elif cmd["op"] == "run_all":
                out = run_all(kc, cmd)
            elif cmd["op"] == "alive":
                out = {"alive": km.is_alive()}
            elif cmd["op"] == "pid":
                out = {"pid": km.provisioner.process.pid}
            elif cmd["op"] == "interrupt":
                km.interrupt_kernel()
                time.sleep(cmd.get("wait_s", 0.5))
                out = {"alive": km.is_alive()}
            else:
                break
            print(json.dumps(out), flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
