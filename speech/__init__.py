"""Speech for the phone line, kiosk and web: vosk recognition, pyttsx3/espeak-ng synthesis, audio tools."""
