"""The new-alert chime: a short two-tone WAV generated here (numpy), never downloaded.

``chime_path()`` writes it once to a cache file and returns the path; the UI plays it with
Kivy's ``SoundLoader``. ``play_chime`` never raises: a tablet without an audio device
still works, silently.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

RATE = 22_050
TONES = ((880.0, 0.12), (1318.5, 0.22))  # A5 then E6: rises, so it reads as "new"


def chime_wav(volume: float = 0.5) -> bytes:
    """16-bit mono PCM WAV bytes of the chime (deterministic)."""
    parts = []
    for freq, seconds in TONES:
        t = np.arange(int(RATE * seconds)) / RATE
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-t * 6.0)  # soft attack, decay: no click
        parts.append(np.sin(2 * np.pi * freq * t) * envelope)
    samples = np.concatenate(parts) * max(0.0, min(volume, 1.0))
    pcm = (samples * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def chime_path(cache_dir: str | Path | None = None) -> Path:
    directory = Path(cache_dir or Path(tempfile.gettempdir()) / "opensco-attendant")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "chime.wav"
    data = chime_wav()
    if not path.is_file() or path.read_bytes() != data:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def load_chime(cache_dir: str | Path | None = None) -> Any:
    """A Kivy ``Sound`` for the chime, or None when there is no audio (never raises)."""
    try:
        from kivy.core.audio import SoundLoader

        return SoundLoader.load(str(chime_path(cache_dir)))
    except Exception as err:
        logger.warning("no chime: %s", err)
        return None


def play_chime(sound: Any) -> None:
    if sound is None:
        return
    try:
        sound.stop()
        sound.play()
    except Exception as err:  # audio device gone mid-shift: keep working
        logger.warning("chime failed: %s", err)
