"""Side-A prompts (D3 pause, D6 spoken site name) and the adapter's configuration."""
from __future__ import annotations

import io
import math
import wave

import pytest

from dialer.providers.base import Capability
from dialer.providers.mtt import MttConfig, MttProvider
from dialer.providers.prompts import PromptError, prompt_file_name, side_a_prompt_wav, wav_duration_s

RATE = 8000


def frames(wav: bytes) -> tuple[tuple[int, int, int], bytes]:
    with wave.open(io.BytesIO(wav)) as reader:
        return (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()), reader.readframes(
            reader.getnframes())


def test_pause_only_prompt_is_exactly_that_much_telephony_silence():
    wav = side_a_prompt_wav(pause_s=15)

    fmt, pcm = frames(wav)
    assert fmt == (RATE, 1, 2)
    assert wav_duration_s(wav) == 15
    assert set(pcm) == {0}


def test_spoken_site_name_comes_first_then_the_pause():
    wav = side_a_prompt_wav(spoken_text="Магазин Ромашка", pause_s=10)

    fmt, pcm = frames(wav)
    speech, pause = pcm[: -10 * RATE * 2], pcm[-10 * RATE * 2:]
    assert fmt == (RATE, 1, 2)
    assert wav_duration_s(wav) > 10
    assert set(speech) != {0}
    assert set(pause) == {0}


def test_a_recorded_file_is_converted_to_telephony_format():
    recording = io.BytesIO()
    with wave.open(recording, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(44100)
        tone = b"".join(int(8000 * math.sin(i / 10)).to_bytes(2, "little", signed=True) * 2 for i in range(44100))
        writer.writeframes(tone)

    wav = side_a_prompt_wav(recording=recording.getvalue(), pause_s=2)

    fmt, _pcm = frames(wav)
    assert fmt == (RATE, 1, 2)
    assert wav_duration_s(wav) == pytest.approx(3, abs=0.01)


@pytest.mark.parametrize("arguments, message", [
    (dict(), "empty prompt"),
    (dict(pause_s=61), "pause"),
    (dict(spoken_text="x", recording=b"RIFF"), "not both"),
])
def test_impossible_prompts_are_refused(arguments, message):
    with pytest.raises(PromptError, match=message):
        side_a_prompt_wav(**arguments)


def test_missing_speech_synthesiser_is_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(PromptError, match="espeak-ng is not installed"):
        side_a_prompt_wav(spoken_text="Ромашка")


def test_prompt_names_follow_the_content():
    one, other = side_a_prompt_wav(pause_s=1), side_a_prompt_wav(pause_s=2)

    assert prompt_file_name(one, "site-7") == prompt_file_name(side_a_prompt_wav(pause_s=1), "site-7")
    assert prompt_file_name(one, "site-7") != prompt_file_name(other, "site-7")
    assert prompt_file_name(one, "site-7").startswith("site-7-")


CONFIG = {"MTT_API_URL": "https://webapicommon.mtt.ru/index.php", "MTT_LOGIN": "login", "MTT_PASSWORD": "pw",
          "MTT_CUSTOMER_NAME": 883140000000001}


def test_config_from_mapping_names_what_is_missing():
    with pytest.raises(ValueError, match="MTT_LOGIN, MTT_PASSWORD"):
        MttConfig.from_mapping({"MTT_API_URL": "https://x", "MTT_CUSTOMER_NAME": "1"})


def test_config_from_mapping_reads_sms_and_tuning():
    config = MttConfig.from_mapping({**CONFIG, "MTT_SMS_URL": "https://api.mtt.ru/ms-customer-gateway/v1/",
                                     "MTT_SMS_TOKEN": "t", "MTT_TIMEOUT_S": "4", "MTT_RETRIES": "1"})

    assert config.customer_name == "883140000000001"
    assert config.send_sms_url == "https://api.mtt.ru/ms-customer-gateway/v1/SendSms"
    assert (config.timeout_s, config.retries) == (4.0, 1)
    assert MttConfig.from_mapping({**CONFIG, "MTT_SMS_URL": "https://gw/v1/SendSms"}).send_sms_url == \
        "https://gw/v1/SendSms"


def test_without_sms_settings_sms_is_refused_and_nothing_is_sent():
    provider = MttProvider(MttConfig.from_mapping(CONFIG))

    result = provider.send_sms("MTT", "+79995550000", "text")

    assert (result.status, result.code) == ("rejected", "not_configured")
    assert "MTT_SMS_TOKEN" in provider.capabilities.refusal(Capability.SMS)
