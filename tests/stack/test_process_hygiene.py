"""A server killed hard leaves nothing behind: its workers go with it, and its port is free for the restart."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytestmark = pytest.mark.stack

MATERIALS_QUESTION = "高龄津贴要带什么材料"


def group_members(group: int) -> list[int]:
    """The processes still in a process group (from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == group:
                    members.append(int(entry))
            except ProcessLookupError:
                continue
    return members


def test_killing_the_action_server_alone_takes_its_workers_with_it(stack, conversation_id):
    old = stack.pids()["actions"]
    assert len(group_members(old)) >= 2, "the action server runs its actions in a worker process"
    os.kill(old, signal.SIGKILL)  # only the server's own process, as a crash or an OOM kill would
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and group_members(old):
        time.sleep(0.2)
    assert group_members(old) == [], "a worker of the killed action server lives on"
    stack.wait_healthy()
    assert stack.pids()["actions"] != old
    reply = stack.chat(conversation_id, MATERIALS_QUESTION)
    assert reply["messages"] and "热线" not in reply["messages"][0]["text"], "the restarted actions answer"
