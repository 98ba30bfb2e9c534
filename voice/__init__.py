"""Phone line for elderly callers (AudioSocket gateway, Vosk ASR, TTS)."""
