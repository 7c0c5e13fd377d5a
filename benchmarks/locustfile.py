"""Simulated residents for locust: they ask questions, fill in a form, ask for a person, book a visit.

The mix, by conversations started: questions 60 %, forms 15 %, a person 10 %, bookings 15 %. It follows
what a 12345 hotline hears: most calls are questions about a service (what to bring, where, fees),
and a minority go on to apply, book or ask for staff; forms and bookings are the long conversations
(6-10 turns), so by turns the mix is about 40 % questions, 30 % forms, 5 % a person, 25 % bookings.
Each simulated resident waits 1-3 s between messages, as someone reading an answer would (at most).

Each message is sent as the web chat widget (channels/webchat/static/widget.js) sends it: a conversation
id of the widget's form, the conversation's token from the answer that created it on every later message,
a `message_id` of its own, and, when the connection breaks, the same message once more with the same id
(reported as `retry`). The widget's other requests (its greeting on opening, polling for staff replies,
the speech probes) are not simulated: the figures are per typed or pressed message.

    .venv/bin/locust -f benchmarks/locustfile.py --headless -u 16 -r 4 -t 60s --host http://127.0.0.1:8080
or benchmarks/cluster_load.py, which starts the cluster with 1 and 2 replicas and runs this against each.
"""

from __future__ import annotations

import random
import secrets
import uuid

from locust import HttpUser, between, task

QUESTIONS = [
    ("高龄津贴怎么申请", ["要带什么", "要交钱吗", "在哪里办"]),
    ("社保卡丢了怎么补办", ["要带什么材料", "多久能拿到"]),
    ("居住证怎么办理", ["需要什么条件", "要带什么", "几点上班"]),
]
FORM = {
    "full_name": "张建国", "address": "东城区幸福路12号3单元502", "arrival_date": "2023年5月1日",
    "employer_or_school": "示例市宏达建筑公司",
}


def _id_number() -> str:
    """A valid 18-digit resident ID number, different for each simulated resident."""
    n = uuid.uuid4().int
    body = f"4403031985{n % 9 + 1:02d}{n // 10 % 28 + 1:02d}{n // 1000 % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _phone() -> str:
    return f"186{random.randrange(10**8):08d}"


def _conversation_id() -> str:
    """A new conversation's id as the widget makes it."""
    return "web-" + secrets.token_hex(12)


class Resident(HttpUser):
    """One resident at a time per simulated user; each task is a whole conversation."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.tokens: dict[str, str] = {}

    def _say(self, conversation_id: str, text: str, name: str) -> dict:
        """One message as the widget sends it; a broken connection gets one more try with the same message id."""
        body = {"conversation_id": conversation_id, "text": text, "locale": "zh-CN", "message_id": uuid.uuid4().hex}
        with self._post(body, name) as response:
            if response.status_code != 0:
                return self._answer(conversation_id, response)
            response.failure(f"connection broke: {response.error}")  # status 0: locust's mark of no answer
        with self._post(body, "retry") as response:
            return self._answer(conversation_id, response)

    def _post(self, body: dict, name: str):
        """The request, with the conversation's token once its first answer has brought one."""
        token = self.tokens.get(body["conversation_id"])
        return self.client.post("/api/chat", json=body, name=name, catch_response=True,
                                headers={"X-Conversation-Token": token} if token else {})

    def _answer(self, conversation_id: str, response) -> dict:
        """The turn's answer, keeping the conversation's token; a failure in locust's figures otherwise."""
        if response.status_code != 200:
            response.failure(f"{response.status_code}")
            return {}
        body = response.json()
        if body.get("conversation_token"):  # the conversation's proof, sent with every later turn
            self.tokens[conversation_id] = body["conversation_token"]
        if not body.get("messages"):
            response.failure("no answer")
        return body

    def _pause(self) -> None:
        self.wait()

    @task(60)
    def ask_questions(self) -> None:
        """A question about a service and its follow-ups."""
        conversation_id = _conversation_id()
        opening, follow_ups = random.choice(QUESTIONS)
        self._say(conversation_id, opening, "question")
        for follow_up in follow_ups:
            self._pause()
            self._say(conversation_id, follow_up, "follow-up")

    @task(15)
    def fill_form(self) -> None:
        """Applies for a residence permit, answering each field asked for, then confirms."""
        conversation_id = _conversation_id()
        answers = {**FORM, "id_number": _id_number(), "phone": _phone()}
        reply = self._say(conversation_id, "帮我办居住证", "form")
        for _ in range(12):
            state = reply.get("state") or {}
            slot = state.get("requested_slot")
            if not state.get("form") or slot not in answers:
                break
            self._pause()
            reply = self._say(conversation_id, answers[slot], "form")
        if (reply.get("state") or {}).get("form"):
            self._say(conversation_id, "确认", "form")

    @task(10)
    def ask_for_a_person(self) -> None:
        """Asks a question, then for a member of staff."""
        conversation_id = _conversation_id()
        self._say(conversation_id, "社保卡丢了怎么补", "question")
        self._pause()
        self._say(conversation_id, "转人工", "person")

    @task(15)
    def book(self) -> None:
        """Books a visit: district, the first free slot, name, phone."""
        conversation_id = _conversation_id()
        reply = self._say(conversation_id, '/book_appointment{"service": "social_security_card"}', "booking")
        for answer in ("district", "slot", "张建国", _phone()):
            buttons = [b for m in reply.get("messages", []) for b in m.get("buttons", [])]
            if answer in ("district", "slot"):
                if not buttons:
                    return
                text = buttons[0]["payload"]
            else:
                text = answer
            self._pause()
            reply = self._say(conversation_id, text, "booking")
