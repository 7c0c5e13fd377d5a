"""Latency and throughput of POST /api/chat on the running stack, measured beside the bare Rasa REST webhook.

Run `make run` in another terminal first, then:
    .venv/bin/python benchmarks/chat_latency.py [--gateway http://127.0.0.1:8000] [--rasa http://127.0.0.1:5005]
It prints p50/p95/p99 for single messages sent one after another, and messages
per second with p95 for 16 concurrent conversations, for both paths, and the
gateway's overhead in per cent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx

QUESTIONS = [
    "社保卡丢了怎么补办", "要带什么材料", "在哪里办", "要钱吗", "多久能拿到",
    "居住证怎么办理", "需要什么条件", "几点上班", "高龄津贴怎么申请", "谢谢",
]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000


async def gateway_turn(client: httpx.AsyncClient, url: str, conversation: str, text: str) -> None:
    response = await client.post(f"{url}/api/chat", json={"conversation_id": conversation, "text": text})
    response.raise_for_status()


async def rasa_turn(client: httpx.AsyncClient, url: str, conversation: str, text: str) -> None:
    response = await client.post(f"{url}/webhooks/rest/webhook", json={"sender": conversation, "message": text})
    response.raise_for_status()


async def sequential(turn, url: str, count: int) -> list[float]:  # noqa: ANN001 - one of the turn functions
    """Latencies of `count` messages sent one at a time, over conversations of 10 turns."""
    latencies = []
    async with httpx.AsyncClient(timeout=30) as client:
        conversation = f"bench-{uuid.uuid4().hex[:8]}"
        for i in range(count):
            if i % len(QUESTIONS) == 0:
                conversation = f"bench-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            await turn(client, url, conversation, QUESTIONS[i % len(QUESTIONS)])
            latencies.append(time.perf_counter() - started)
    return latencies


async def concurrent(turn, url: str, conversations: int, turns: int) -> tuple[float, list[float]]:  # noqa: ANN001
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--rasa", default="http://127.0.0.1:5005")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()

    await sequential(gateway_turn, args.gateway, 20)  # warm-up
    await sequential(rasa_turn, args.rasa, 20)
    print("Single messages, one after another:")
    rasa_seq = await sequential(rasa_turn, args.rasa, args.messages)
    gateway_seq = await sequential(gateway_turn, args.gateway, args.messages)
    print(line("  bare Rasa REST webhook", rasa_seq))
    print(line("  gateway /api/chat", gateway_seq))
    overhead = (statistics.median(gateway_seq) / statistics.median(rasa_seq) - 1) * 100
    print(f"  gateway overhead on the median: {overhead:+.1f} %")

    print(f"\n{args.conversations} concurrent conversations x {args.turns} turns:")
    rasa_rate, rasa_lat = await concurrent(rasa_turn, args.rasa, args.conversations, args.turns)
    gateway_rate, gateway_lat = await concurrent(gateway_turn, args.gateway, args.conversations, args.turns)
    print(f"  bare Rasa REST webhook     {rasa_rate:6.1f} msg/s   p95 {percentile(rasa_lat, 95):7.1f} ms")
    print(f"  gateway /api/chat          {gateway_rate:6.1f} msg/s   p95 {percentile(gateway_lat, 95):7.1f} ms")
    print(f"  gateway throughput vs bare Rasa: {(gateway_rate / rasa_rate - 1) * 100:+.1f} %")


if __name__ == "__main__":
    asyncio.run(main())
