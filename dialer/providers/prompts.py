"""Side-A prompts: the spoken site name (D6) followed by silence (the D3 pause), as a telephony WAV.

MTT plays a side-A prompt to the manager after they answer and only then dials the client, so the prompt's
length is the pause before the client's phone rings. espeak-ng and sox are Debian packages installed by
`scripts/install-system-deps`; they are looked up only when a prompt with speech or a recording is built.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

from dialer.providers.base import ProviderError

SAMPLE_RATE = 8000  # narrowband telephony: 8 kHz, 16-bit, mono PCM (MTT's accepted formats are not documented)
SAMPLE_WIDTH = 2
MAX_PAUSE_S = 60


class PromptError(ProviderError):
    code = "prompt"


def side_a_prompt_wav(*, spoken_text: str | None = None, recording: bytes | None = None, pause_s: int = 0,
                      voice: str = "ru") -> bytes:
    """A WAV of `spoken_text` (synthesised) or `recording` (any WAV sox reads), then `pause_s` seconds of
    silence. Raises PromptError when neither speech nor a pause is asked for, or a tool is missing."""
    if spoken_text and recording:
        raise PromptError("a prompt is either spoken text or a recording, not both")
    if not 0 <= pause_s <= MAX_PAUSE_S:
        raise PromptError(f"the pause must be 0–{MAX_PAUSE_S} s")
    if not (spoken_text or recording or pause_s):
        raise PromptError("an empty prompt: no speech, no recording, no pause")
    with tempfile.TemporaryDirectory(prefix="prompt-") as tmp:
        speech = b""
        if spoken_text:
            source = Path(tmp, "speech.wav")
            _run(["espeak-ng", "-v", voice, "-w", str(source), spoken_text])
            speech = _telephony_frames(source, tmp)
        elif recording:
            source = Path(tmp, "recording.wav")
            source.write_bytes(recording)
            speech = _telephony_frames(source, tmp)
    return _wav(speech + b"\0" * SAMPLE_WIDTH * SAMPLE_RATE * pause_s)


def prompt_file_name(wav: bytes, prefix: str = "prompt") -> str:
    """A file name derived from the content: the same prompt is uploaded once under the same name."""
    return f"{prefix}-{hashlib.sha256(wav).hexdigest()[:16]}.wav"


def wav_duration_s(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getnframes() / reader.getframerate()


def _telephony_frames(source: Path, tmp: str) -> bytes:
    """Resample any WAV to 8 kHz 16-bit mono with sox; returns the raw PCM frames. No dither (`-D`): the same
    input gives the same bytes, so a prompt's content-derived name is stable and it is uploaded once."""
    target = Path(tmp, "telephony.wav")
    _run(["sox", "-D", str(source), "-r", str(SAMPLE_RATE), "-c", "1", "-b", str(SAMPLE_WIDTH * 8),
          "-e", "signed-integer", str(target)])
    with wave.open(str(target)) as reader:
        return reader.readframes(reader.getnframes())


def _wav(frames: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_WIDTH)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(frames)
    return buffer.getvalue()


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise PromptError(f"{command[0]} is not installed (scripts/install-system-deps installs it)")
    completed = subprocess.run(command, capture_output=True, timeout=60, check=False)
    if completed.returncode != 0:
        raise PromptError(f"{command[0]} failed: {completed.stderr.decode(errors='replace')[:300]}")
