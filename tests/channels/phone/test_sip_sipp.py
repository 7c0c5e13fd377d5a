"""What baresip cannot show, with SIPp: registering at a trunk with digest auth, keys sent as SIP INFO."""

from __future__ import annotations

import asyncio
import logging

import pytest

from channels.phone.errors import RegistrationFailed
from channels.phone.sip import EndpointOptions, SipEndpoint
from tests.channels.phone.sip_line import RTP_PORTS, SIP_PORT, SIPP_PORT, SipLine, ToneHandler, run
from tests.channels.phone.sip_client import run_sipp, sipp_available

pytestmark = pytest.mark.skipif(not sipp_available(), reason="SIPp is not installed (sip-tester)")


def _registering(password: str) -> SipEndpoint:
    return SipEndpoint("127.0.0.1", SIP_PORT, ToneHandler(), options=EndpointOptions(
        rtp_ports=RTP_PORTS, registrar=("127.0.0.1", SIPP_PORT), username="bianmin", password=password))


def test_the_endpoint_registers_with_digest_auth_and_unregisters_on_stop(tmp_path):
    async def scenario():
        registrar = asyncio.get_running_loop().create_task(
            run_sipp("registrar.xml", port=SIPP_PORT, media_port=SIPP_PORT + 2, workdir=tmp_path))
        await asyncio.sleep(0.5)  # SIPp opens its port
        endpoint = _registering("s3cret-pass")
        await endpoint.start()
        try:
            await endpoint.wait_registered(timeout=10)
            assert endpoint.registration.granted_expires == 120
        finally:
            await endpoint.stop()  # sends the unregistration the scenario waits for
        status, errors = await registrar
        assert status == 0, errors

    run(scenario)


def test_a_wrong_password_is_a_clear_registration_failure(tmp_path, caplog):
    async def scenario():
        registrar = asyncio.get_running_loop().create_task(
            run_sipp("registrar.xml", port=SIPP_PORT, media_port=SIPP_PORT + 2, workdir=tmp_path))
        await asyncio.sleep(0.5)
        endpoint = _registering("not-the-password")
        await endpoint.start()
        try:
            with pytest.raises(RegistrationFailed):
                await endpoint.wait_registered(timeout=10)
        finally:
            await endpoint.stop()
        await registrar

    with caplog.at_level(logging.ERROR, logger="channels.phone.sip"):
        run(scenario)
    assert "403" in caplog.text and "SIP_PASSWORD" in caplog.text


def test_keys_sent_as_sip_info_arrive_and_a_silent_phone_still_gives_frames(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            status, errors = await run_sipp("info_keys.xml", port=SIPP_PORT, media_port=SIPP_PORT + 2,
                                            remote=f"127.0.0.1:{SIP_PORT}", workdir=tmp_path)
            assert status == 0, errors
            (record,) = line.handler.calls
            await asyncio.wait_for(record.finished.wait(), 5)
            assert record.keys == ["5", "#"]
            # SIPp sends no audio at all: silence frames stand in, so the call flow still hears time pass.
            heard = record.audio
            assert len(heard) >= 0.6 * 16000 and not any(heard)
            assert record.call.caller == "13700137000"
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    run(scenario)


def test_a_re_invite_moving_the_callers_audio_is_answered_and_followed(tmp_path):
    async def scenario():
        async with SipLine(tmp_path) as line:
            task = asyncio.get_running_loop().create_task(
                run_sipp("reinvite.xml", port=SIPP_PORT, media_port=SIPP_PORT + 2,
                         remote=f"127.0.0.1:{SIP_PORT}", workdir=tmp_path))
            await line.handler.answered.wait()
            stream = line.handler.calls[0].call.stream
            assert stream.remote[1] == SIPP_PORT + 2
            status, errors = await task  # fails unless our 200 OK to the re-INVITE came
            assert status == 0, errors
            assert stream.remote == ("127.0.0.1", 25096)  # the port the re-INVITE names
            assert await line.settled() == dict.fromkeys(line.endpoint.state, 0)

    run(scenario)
