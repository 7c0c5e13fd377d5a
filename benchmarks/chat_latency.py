"""Latency and throughput of POST /api/chat on the running stack, measured beside the bare Rasa REST webhook.

Run `make run` in another terminal first, then:
    .venv/bin/python benchmarks/chat_latency.py [--gateway http://127.0.0.1:8000] [--rasa http://127.0.0.1:5005]
With RASA_WORKERS=2, name both workers (`--rasa http://127.0.0.1:5005,http://127.0.0.1:5006`) to
compare like with like, or only the first to compare with one bare Rasa process.
Both paths are measured in the same run and interleaved (one message to each in
turn; concurrent rounds alternate which path goes first), so a machine busy with
other work slows both alike. It prints p50/p95/p99 for single messages sent one
after another and messages per second with p95 for 16 concurrent conversations,
with the load average of each round, and then the figures against the targets:
the gateway adds at most 10 % to Rasa's median latency and loses at most 10 % of
its throughput, p95 of one message at most 150 ms, and 16 concurrent
conversations beat one bare Rasa process as measured on a small project
(17-26 msg/s, p95 1-1.6 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable

import httpx

QUESTIONS = [
    "社保卡丢了怎么补办", "要带什么材料", "在哪里办", "要钱吗", "多久能拿到",
    "居住证怎么办理", "需要什么条件", "几点上班", "高龄津贴怎么申请", "谢谢",
]

MAX_OVERHEAD_PERCENT = 10.0
MAX_THROUGHPUT_LOSS_PERCENT = 10.0
MAX_SINGLE_P95_MS = 150.0
# One bare Rasa process with 16 concurrent clients, measured on a small zh project: 17-26 msg/s, p95 1-1.6 s.
BARE_SINGLE_PROCESS_RATE = 26.0
BARE_SINGLE_PROCESS_P95_MS = 1000.0

Turn = Callable[[httpx.AsyncClient, str, str, str], Awaitable[None]]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc: what a turn costs the gateway itself."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """The machine's 1-minute load average, to judge how noisy a figure is."""
    return f"load {os.getloadavg()[0]:.1f}"


# Each conversation's token from its first answer, sent with every later turn as a web client does.
TOKENS: dict[str, str] = {}
# Whether each message carries its own message_id, as the widget and the kiosk send (their retries are answered once).
MESSAGE_IDS = True


async def gateway_turn(client: httpx.AsyncClient, url: str, conversation: str, text: str) -> None:
    token = TOKENS.get(conversation)
    body = {"conversation_id": conversation, "text": text}
    if MESSAGE_IDS:
        body["message_id"] = uuid.uuid4().hex
    response = await client.post(f"{url}/api/chat", json=body,
                                 headers={"X-Conversation-Token": token} if token else {})
    response.raise_for_status()
    if token is None:
        TOKENS[conversation] = response.json().get("conversation_token", "")


async def rasa_turn(client: httpx.AsyncClient, url: str, conversation: str, text: str) -> None:
    # Several workers (comma-separated): each conversation goes to the one the gateway would choose.
    workers = url.split(",")
    worker = workers[zlib.crc32(conversation.encode()) % len(workers)]
    response = await client.post(f"{worker}/webhooks/rest/webhook", json={"sender": conversation, "message": text})
    response.raise_for_status()


async def sequential(paths: list[tuple[Turn, str]], count: int) -> list[list[float]]:
    """Latencies of `count` messages per path sent one at a time, alternating paths, over 10-turn conversations."""
    latencies: list[list[float]] = [[] for _ in paths]
    conversations = [""] * len(paths)
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(count):
            for index, (turn, url) in enumerate(paths):
                if i % len(QUESTIONS) == 0:
                    conversations[index] = f"bench-{uuid.uuid4().hex[:8]}"
                started = time.perf_counter()
                await turn(client, url, conversations[index], QUESTIONS[i % len(QUESTIONS)])
                latencies[index].append(time.perf_counter() - started)
    return latencies


async def concurrent(turn: Turn, url: str, conversations: int, turns: int) -> tuple[float, list[float]]:
    """Messages per second and latencies with `conversations` people talking at once."""
    latencies: list[float] = []

    async def person(client: httpx.AsyncClient) -> None:
        conversation = f"bench-{uuid.uuid4().hex[:8]}"
        for i in range(turns):
            started = time.perf_counter()
            await turn(client, url, conversation, QUESTIONS[i % len(QUESTIONS)])
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=conversations * 2)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(person(client) for _ in range(conversations)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def line(label: str, latencies: list[float]) -> str:
    return (f"{label:<28} p50 {percentile(latencies, 50):6.1f} ms   p95 {percentile(latencies, 95):6.1f} ms   "
            f"p99 {percentile(latencies, 99):6.1f} ms   (n={len(latencies)})")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--rasa", default="http://127.0.0.1:5005",
                        help="the bare Rasa worker(s), comma-separated when RASA_WORKERS > 1")
    parser.add_argument("--messages", type=int, default=100, help="single messages per path and round")
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gateway-pid", type=int, default=None,
                        help="the gateway's process id: also print its own CPU time per message (steady under load)")
    parser.add_argument("--without-message-ids", action="store_true",
                        help="send no message_id (as a client that never retries): the cost of keeping answers")
    args = parser.parse_args()
    global MESSAGE_IDS
    MESSAGE_IDS = not args.without_message_ids
    rasa, gateway = (rasa_turn, args.rasa), (gateway_turn, args.gateway)

    await sequential([gateway, rasa], 20)  # warm-up
    rasa_seq: list[float] = []
    gateway_seq: list[float] = []
    cpu_before = cpu_seconds(args.gateway_pid) if args.gateway_pid else 0.0
    print("Single messages, one after another (bare Rasa and gateway interleaved):")
    for round_number in range(1, args.rounds + 1):
        bare, through = await sequential([rasa, gateway], args.messages)
        rasa_seq += bare
        gateway_seq += through
        print(f"  round {round_number} ({load_average()}): bare p50 {percentile(bare, 50):.1f} ms, "
              f"gateway p50 {percentile(through, 50):.1f} ms")
    print(line("  bare Rasa REST webhook", rasa_seq))
    print(line("  gateway /api/chat", gateway_seq))
    if args.gateway_pid:
        per_turn = (cpu_seconds(args.gateway_pid) - cpu_before) / len(gateway_seq) * 1000
        print(f"  gateway's own CPU per message: {per_turn:.2f} ms")

    print(f"\n{args.conversations} concurrent conversations x {args.turns} turns:")
    rates: dict[str, list[float]] = {"bare": [], "gateway": []}
    p95s: dict[str, list[float]] = {"bare": [], "gateway": []}
    for round_number in range(1, args.rounds + 1):
        order = [("bare", rasa), ("gateway", gateway)]
        for name, (turn, url) in order if round_number % 2 else reversed(order):
            rate, latencies = await concurrent(turn, url, args.conversations, args.turns)
            rates[name].append(rate)
            p95s[name].append(percentile(latencies, 95))
            print(f"  round {round_number} {name:<8} ({load_average()}): {rate:6.1f} msg/s   "
                  f"p95 {percentile(latencies, 95):7.1f} ms")
    bare_rate, gateway_rate = statistics.median(rates["bare"]), statistics.median(rates["gateway"])
    # Medians of the rounds: one round slowed down by other work on the machine does not decide the figure.
    bare_p95, gateway_p95 = statistics.median(p95s["bare"]), statistics.median(p95s["gateway"])
    print(f"  bare Rasa REST webhook     {bare_rate:6.1f} msg/s   p95 {bare_p95:7.1f} ms   (medians of the rounds)")
    print(f"  gateway /api/chat          {gateway_rate:6.1f} msg/s   p95 {gateway_p95:7.1f} ms")

    overhead = (statistics.median(gateway_seq) / statistics.median(rasa_seq) - 1) * 100
    loss = (1 - gateway_rate / bare_rate) * 100
    single_p95 = percentile(gateway_seq, 95)
    print(f"\nAgainst the targets ({load_average()} now):")
    print(f"  gateway overhead on the median latency: {overhead:+.1f} % (target <= {MAX_OVERHEAD_PERCENT:.0f} %): "
          f"{verdict(overhead <= MAX_OVERHEAD_PERCENT)}")
    print(f"  gateway throughput loss at {args.conversations} concurrent: {loss:+.1f} % "
          f"(target <= {MAX_THROUGHPUT_LOSS_PERCENT:.0f} %): {verdict(loss <= MAX_THROUGHPUT_LOSS_PERCENT)}")
    print(f"  gateway p95 of one message: {single_p95:.1f} ms (target <= {MAX_SINGLE_P95_MS:.0f} ms): "
          f"{verdict(single_p95 <= MAX_SINGLE_P95_MS)}")
    beats = gateway_rate > BARE_SINGLE_PROCESS_RATE and gateway_p95 < BARE_SINGLE_PROCESS_P95_MS
    print(f"  gateway at {args.conversations} concurrent: {gateway_rate:.1f} msg/s, p95 {gateway_p95:.0f} ms "
          f"(target: beat one bare Rasa process, 17-26 msg/s with p95 1-1.6 s): {verdict(beats)}")


if __name__ == "__main__":
    asyncio.run(main())
