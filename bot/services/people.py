"""What a person already told us (name, ID number, phone, address), so no application asks for it twice.

A person is keyed by the fingerprint of their ID number; a conversation on any
channel is linked to them once they submit an application there or identify
with ID number and phone. Everything personal is stored encrypted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db.models import Person, PersonConversation, utcnow
from bot.db.session import unit_of_work
from bot.keys import field_cipher
from bot.privacy import FieldCipher
from bot.settings import get_settings

FIELDS = ("full_name", "id_number", "phone", "address")


def cipher() -> FieldCipher:
    """The cipher for personal fields, keyed by FIELD_ENCRYPTION_KEY or the key file (see bot.keys)."""
    return field_cipher(get_settings())


@dataclass(frozen=True)
class Known:
    """The details a person gave before, in plain text (for offering them back, never for logging)."""

    full_name: str | None
    id_number: str | None
    phone: str | None
    address: str | None

    def get(self, name: str) -> str | None:
        """One detail by slot name."""
        return getattr(self, name, None) if name in FIELDS else None


def _known(person: Person) -> Known:
    c = cipher()
    return Known(*(c.decrypt(v) if (v := getattr(person, f"{name}_encrypted")) else None for name in FIELDS))


def _link(session: Any, conversation_id: str, person_id: int) -> None:
    link = session.get(PersonConversation, conversation_id)
    if link is None:
        session.add(PersonConversation(conversation_id=conversation_id, person_id=person_id))
    else:
        link.person_id = person_id
        link.linked_at = utcnow()


def remember(conversation_id: str, values: dict[str, Any]) -> None:
    """Stores (or updates) the person's details and links the conversation to them."""
    if not values.get("id_number"):
        return
    c = cipher()
    fingerprint = c.fingerprint(values["id_number"])
    with unit_of_work() as session:
        person = session.scalars(select(Person).where(Person.id_fingerprint == fingerprint)).first()
        if person is None:
            person = Person(id_fingerprint=fingerprint)
            session.add(person)
        for name in FIELDS:
            if values.get(name):
                setattr(person, f"{name}_encrypted", c.encrypt(str(values[name])))
        session.flush()
        _link(session, conversation_id, person.id)


def known_for(conversation_id: str) -> Known | None:
    """What the person linked to this conversation told us before, or None for someone not yet known."""
    with unit_of_work() as session:
        link = session.get(PersonConversation, conversation_id)
        person = session.get(Person, link.person_id) if link else None
        return _known(person) if person else None


def identify(conversation_id: str, id_number: str, phone: str) -> Known | None:
    """Links the conversation to a known person whose ID number and phone both match; None otherwise."""
    c = cipher()
    with unit_of_work() as session:
        person = session.scalars(select(Person).where(Person.id_fingerprint == c.fingerprint(id_number))).first()
        if person is None or not person.phone_encrypted or c.decrypt(person.phone_encrypted) != phone:
            return None
        _link(session, conversation_id, person.id)
        return _known(person)


def person_id_for(conversation_id: str) -> int | None:
    """The id of the person linked to the conversation, if any."""
    with unit_of_work() as session:
        link = session.get(PersonConversation, conversation_id)
        return link.person_id if link else None


def id_fingerprint_of(person_id: int) -> str | None:
    """The keyed fingerprint of a person's ID number (to find their applications)."""
    with unit_of_work() as session:
        person = session.get(Person, person_id)
        return person.id_fingerprint if person else None
