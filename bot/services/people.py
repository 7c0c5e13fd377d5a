"""What a person already told us (name, ID number, phone, address), so no application asks for it twice.

A person is keyed by the fingerprint of their ID number; a conversation on any
channel is linked to them once it has proved it is them (bot/services/identity.py:
it holds the phone on file, or staff checked the ID card), or when its own first
submission creates the person. Knowing an ID number and a phone proves nothing.
Everything personal is stored encrypted.
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


def remember(conversation_id: str, values: dict[str, Any], may_update: bool = True) -> bool:
    """Stores (or updates) the person's details and links the conversation to them; False if left as it was.

    `may_update` is False for a conversation that has not proved it is the person on
    file: their stored details are never overwritten from it (the submission keeps its own).
    """
    if not values.get("id_number"):
        return True
    c = cipher()
    fingerprint = c.fingerprint(values["id_number"])
    with unit_of_work() as session:
        person = session.scalars(select(Person).where(Person.id_fingerprint == fingerprint)).first()
        if person is not None and not may_update:
            return False
        if person is None:
            person = Person(id_fingerprint=fingerprint)
            session.add(person)
        for name in FIELDS:
            if values.get(name):
                setattr(person, f"{name}_encrypted", c.encrypt(str(values[name])))
        session.flush()
        _link(session, conversation_id, person.id)
    return True


def phone_on_file(id_number: str) -> str | None:
    """The phone stored for the person with this ID number (None when nobody is on file): where proof goes."""
    with unit_of_work() as session:
        person = session.scalars(select(Person).where(Person.id_fingerprint == cipher().fingerprint(id_number))).first()
        return cipher().decrypt(person.phone_encrypted) if person and person.phone_encrypted else None


def known_for(conversation_id: str) -> Known | None:
    """What the person linked to this conversation told us before, or None for someone not yet known."""
    with unit_of_work() as session:
        link = session.get(PersonConversation, conversation_id)
        person = session.get(Person, link.person_id) if link else None
        return _known(person) if person else None


def identify(conversation_id: str, id_number: str, phone: str) -> Known | None:
    """Links the conversation to a known person whose ID number and phone both match; None otherwise.

    Only for a conversation that has proved it holds that phone (identity.link_person checks it).
    """
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
