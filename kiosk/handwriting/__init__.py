"""Offline recognition of one handwritten Chinese character from the strokes a finger drew on the kiosk's pad."""
