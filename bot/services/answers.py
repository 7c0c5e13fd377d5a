"""Short spoken-style answers about a service, composed from the knowledge base and the domain's templates.

An answer is at most three short sentences so it can be read aloud on the phone;
the full details come only when asked ("详细说明"). Next likely questions come
as buttons, whose payloads carry the service so a tap never loses the context.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from bot import texts
from bot.knowledge.catalogue import POPULAR_SERVICES, Catalogue
from bot.knowledge.schema import Centre, Material, OpeningHours, Service
from bot.understanding.normalise import normalise

QUESTION_INTENTS = (
    "ask_how_to_apply",
    "ask_materials",
    "ask_location_hours",
    "ask_fee",
    "ask_processing_time",
    "ask_eligibility",
)

# After answering one question, these are the ones people most often ask next.
NEXT_QUESTIONS = {
    "ask_how_to_apply": ("ask_materials", "ask_location_hours", "ask_eligibility"),
    "ask_materials": ("ask_location_hours", "ask_fee", "ask_processing_time"),
    "ask_location_hours": ("ask_materials", "ask_processing_time", "ask_fee"),
    "ask_fee": ("ask_materials", "ask_processing_time", "ask_location_hours"),
    "ask_processing_time": ("ask_materials", "ask_location_hours", "ask_fee"),
    "ask_eligibility": ("ask_materials", "ask_how_to_apply", "ask_location_hours"),
}


@dataclass(frozen=True)
class Reply:
    """One message of the assistant: text plus buttons ({"title", "payload"})."""

    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


def payload(intent: str, **entities: str) -> str:
    """A Rasa button payload that sends an intent with entities, e.g. /ask_fee{"service": "id_card"}."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


def _button(intent: str, service_id: str, **extra: str) -> dict[str, str]:
    return {"title": texts.text(f"utter_button_{intent}"), "payload": payload(intent, service=service_id, **extra)}


def answer(catalogue: Catalogue, intent: str, service: Service, *, details: bool = False) -> list[Reply]:
    """The answer to a question of kind `intent` about `service`, with buttons for what comes next."""
    summary = _summary(catalogue, intent, service)
    replies = [Reply(summary)]
    if details:
        replies.append(Reply("\n".join(_details(catalogue, intent, service))))
    buttons = [_button(nxt, service.id) for nxt in NEXT_QUESTIONS[intent]]
    if not details:
        buttons.append(
            {"title": texts.text("utter_button_details"), "payload": payload(intent, service=service.id, detail="full")}
        )
    if service.apply_via_assistant:
        buttons.append(_button("start_application", service.id))
    else:
        buttons.append(_button("book_appointment", service.id))
    return replies[:-1] + [Reply(replies[-1].text, buttons)]


def _summary(catalogue: Catalogue, intent: str, service: Service) -> str:
    name = service.short_name
    if intent == "ask_how_to_apply":
        if service.apply_via_assistant:
            hint = texts.text("utter_apply_hint_assistant")
        elif service.steps.online_available and service.steps.online_channels:
            hint = texts.text("utter_apply_hint_online", channels="、".join(service.steps.online_channels[:2]))
        else:
            hint = texts.text("utter_apply_hint_offline")
        return texts.text("utter_answer_ask_how_to_apply", name=name, description=service.description, apply_hint=hint)
    section_summary = {
        "ask_materials": service.materials_summary,
        "ask_location_hours": service.where_summary,
        "ask_fee": service.fees.summary,
        "ask_processing_time": service.processing_time.summary,
        "ask_eligibility": service.eligibility.summary,
    }[intent]
    return texts.text(f"utter_answer_{intent}", name=name, summary=section_summary)


def _details(catalogue: Catalogue, intent: str, service: Service) -> list[str]:
    lines = [texts.text("utter_details_heading", name=service.short_name)]
    if intent == "ask_materials":
        lines += [f"· {material_line(m)}" for m in service.materials]
    elif intent == "ask_location_hours":
        for centre_id in service.centres:
            centre = catalogue.centres.get(centre_id)
            if centre:
                lines.append(f"· {centre_line(centre)}")
                if centre.green_channel:
                    lines.append(f"  {texts.text('utter_green_channel', note=centre.green_channel_note)}")
    elif intent == "ask_how_to_apply":
        if service.steps.online:
            lines.append(texts.text("utter_detail_steps_online", steps="；".join(service.steps.online)))
        lines.append(texts.text("utter_detail_steps_offline", steps="；".join(service.steps.offline)))
    else:
        section = {"ask_fee": service.fees, "ask_processing_time": service.processing_time,
                   "ask_eligibility": service.eligibility}[intent]
        lines += [f"· {d}" for d in section.details]
    lines.append(texts.text("utter_source", title=service.source.title, reviewed=service.last_reviewed.isoformat()))
    return lines


def material_line(material: Material) -> str:
    """One material in plain words: name, original or copies, and the clerk's note."""
    if material.original and material.copies:
        form = texts.text("utter_material_original_and_copies", copies=material.copies)
    elif material.copies:
        form = texts.text("utter_material_copies", copies=material.copies)
    else:
        form = texts.text("utter_material_original")
    optional = "" if material.required else texts.text("utter_material_optional")
    notes = f"，{material.notes}" if material.notes else ""
    return texts.text("utter_detail_material", name=material.name, form=form, count=optional, notes=notes)


def centre_line(centre: Centre) -> str:
    """A centre's address, phone and opening hours in one line."""
    hours = "；".join(opening_hours_text(h) for h in centre.hours)
    return texts.text("utter_detail_centre", centre=centre.name, address=centre.address, phone=centre.phone, hours=hours)


def opening_hours_text(hours: OpeningHours) -> str:
    """E.g. 周一至周五 9:00-17:00（12:00-13:30午休）."""
    days = hours.days
    day_names = [texts.text(f"utter_weekday_{d}") for d in days]
    order = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    indexes = [order.index(d) for d in days]
    consecutive = len(days) > 2 and indexes == list(range(indexes[0], indexes[0] + len(days)))
    day_text = (texts.text("utter_day_range", first=day_names[0], last=day_names[-1])
                if consecutive else "、".join(day_names))
    text = texts.text("utter_hours_range", days=day_text, open=_clock(hours.open), close=_clock(hours.close))
    if hours.lunch_start and hours.lunch_end:
        text += texts.text("utter_hours_lunch", lunch_start=_clock(hours.lunch_start), lunch_end=_clock(hours.lunch_end))
    return text


def _clock(time: dt.time) -> str:
    return f"{time.hour}:{time.minute:02d}"




def for_those_who_cannot_come(catalogue: Catalogue, service: Service | None) -> list[Reply]:
    """"去不了怎么办": proxy handling and home visits of the service (or in general), then a call-back offered."""
    if service is None:
        text = texts.text("utter_cannot_come_general")
        choices = [{"title": catalogue.services[c].short_name,
                    "payload": payload("ask_how_to_apply", service=c, detail="access")}
                   for c in POPULAR_SERVICES if c in catalogue.services]
        return [Reply(text, choices), callback_offer()]
    parts = []
    if service.proxy is not None:
        parts.append(service.proxy.summary)
        if service.proxy.allowed and service.proxy.documents:
            parts.append(texts.text("utter_cannot_come_documents", documents="、".join(service.proxy.documents)))
    if service.home_visit is not None:
        parts.append(service.home_visit.summary)
    if not parts:
        parts.append(texts.text("utter_cannot_come_unknown", hotline=catalogue.city.hotline))
    return [Reply(texts.text("utter_cannot_come", name=service.short_name, summary="".join(parts))), callback_offer()]


def callback_offer() -> Reply:
    """Offers a call-back from staff (a yes takes it), or a person now."""
    return Reply(texts.text("utter_offer_callback"), texts.buttons("utter_offer_callback"))


def out_of_scope(catalogue: Catalogue) -> Reply:
    """Not a public service: says so kindly, with the hotline and the most asked services to choose from."""
    return Reply(
        texts.text("utter_out_of_scope", hotline=catalogue.city.hotline),
        [{"title": catalogue.services[c].short_name, "payload": payload("ask_how_to_apply", service=c)}
         for c in POPULAR_SERVICES if c in catalogue.services],
    )


def which_service(candidates: list[str], catalogue: Catalogue, intent: str) -> Reply:
    """Asks which service is meant, offering the likeliest ones (or the most asked) as buttons."""
    if candidates:
        return Reply(
            texts.text("utter_which_service"),
            [{"title": catalogue.services[c].short_name, "payload": payload(intent, service=c)} for c in candidates],
        )
    return Reply(
        texts.text("utter_which_service_popular"),
        [{"title": catalogue.services[c].short_name, "payload": payload(intent, service=c)}
         for c in POPULAR_SERVICES if c in catalogue.services],
    )


_faq_index: dict[str, object] = {}


def _faq_key(text: str) -> str:
    # As written, give or take punctuation, spaces, width and script: an FAQ answers its own question, not a guess.
    return re.sub(r"[\s\W_]+", "", normalise(text))


def faq_answer(catalogue: Catalogue, text: str) -> tuple[str, Reply] | None:
    """The service and FAQ answer whose question is this message, if a supervisor added one (or the catalogue has it)."""
    if _faq_index.get("catalogue") is not catalogue:
        index = {_faq_key(item.question): (service.id, f"{service.short_name}：{item.answer}")
                 for service in catalogue.services.values() for item in service.faq}
        _faq_index.update(catalogue=catalogue, index=index)
    found = _faq_index["index"].get(_faq_key(text))  # type: ignore[attr-defined]
    return (found[0], Reply(found[1])) if found else None
