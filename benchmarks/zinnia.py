"""Debian's Zinnia recogniser (libzinnia0 with the tegaki-zinnia-simplified-chinese model), for comparison only.

The benchmark measures it beside our recogniser on the same strokes; it is not used to answer residents.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from pathlib import Path

MODEL = Path("/usr/share/tegaki/models/zinnia/handwriting-zh_CN.model")


class Zinnia:
    """A thin ctypes binding to libzinnia's C API: one recogniser, one character buffer."""

    def __init__(self, model: Path = MODEL):
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("zinnia") or "libzinnia.so.0")
        except OSError as err:
            raise OSError("Zinnia is not installed: apt-get install libzinnia0 tegaki-zinnia-simplified-chinese") from err
        for function, result in (("zinnia_recognizer_new", ctypes.c_void_p), ("zinnia_character_new", ctypes.c_void_p),
                                 ("zinnia_recognizer_classify", ctypes.c_void_p),
                                 ("zinnia_result_value", ctypes.c_char_p), ("zinnia_result_size", ctypes.c_size_t)):
            getattr(lib, function).restype = result
        lib.zinnia_recognizer_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.zinnia_recognizer_classify.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.zinnia_character_clear.argtypes = [ctypes.c_void_p]
        lib.zinnia_character_set_width.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.zinnia_character_set_height.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.zinnia_character_add.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
        lib.zinnia_result_value.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.zinnia_result_size.argtypes = [ctypes.c_void_p]
        lib.zinnia_result_destroy.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._recogniser = lib.zinnia_recognizer_new()
        if not lib.zinnia_recognizer_open(self._recogniser, str(model).encode()):
            raise OSError(f"Zinnia cannot open {model}: apt-get install tegaki-zinnia-simplified-chinese")
        self._character = lib.zinnia_character_new()

    def recognise(self, strokes: Sequence[Sequence[Sequence[float]]], size: int = 300, count: int = 10) -> list[str]:
        """Up to `count` characters, best first."""
        lib, character = self._lib, self._character
        lib.zinnia_character_clear(character)
        lib.zinnia_character_set_width(character, size)
        lib.zinnia_character_set_height(character, size)
        for index, stroke in enumerate(strokes):
            for x, y in stroke:
                lib.zinnia_character_add(character, index, int(x), int(y))
        result = lib.zinnia_recognizer_classify(self._recogniser, character, count)
        if not result:
            return []
        try:
            return [lib.zinnia_result_value(result, i).decode() for i in range(lib.zinnia_result_size(result))]
        finally:
            lib.zinnia_result_destroy(result)
