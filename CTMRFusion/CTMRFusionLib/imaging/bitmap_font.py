"""A 5 × 7 pixel bitmap font for labels on PNGs written without a renderer (montages, thumbnails).

Upper-case letters, digits and a little punctuation; other characters draw as blanks. Text is burnt into
uint8 or RGB arrays at an integer ``scale``.
"""

from __future__ import annotations

import numpy as np

GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
# Each glyph: 7 rows of 5 bits, as a string of '#' (ink) and '.' (background), rows separated by spaces.
_GLYPHS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": ".###. #.... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ....# .###.",
    "-": "..... ..... ..... ##### ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "/": "....# ...#. ...#. ..#.. .#... .#... #....",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    " ": "..... ..... ..... ..... ..... ..... .....",
}
_BITMAPS = {
    char: np.array([[c == "#" for c in row] for row in rows.split()], dtype=bool) for char, rows in _GLYPHS.items()
}


def text_mask(text: str, scale: int = 2) -> np.ndarray:
    """Boolean (rows, columns) ink mask of ``text`` (upper-cased), one pixel between letters, at ``scale``."""
    glyphs = [_BITMAPS.get(char, _BITMAPS[" "]) for char in text.upper()]
    if not glyphs:
        return np.zeros((GLYPH_HEIGHT * scale, 0), dtype=bool)
    spaced = [np.pad(glyph, ((0, 0), (0, 1))) for glyph in glyphs]
    mask = np.concatenate(spaced, axis=1)[:, :-1]
    return np.kron(mask, np.ones((scale, scale), dtype=bool))


def draw_text(canvas: np.ndarray, text: str, top: int, left: int, value=255, scale: int = 2) -> None:
    """Burn ``text`` into ``canvas`` (2D grey or (rows, columns, 3) RGB) at (top, left), clipped to the canvas."""
    mask = text_mask(text, scale)
    rows = max(0, min(mask.shape[0], canvas.shape[0] - top))
    columns = max(0, min(mask.shape[1], canvas.shape[1] - left))
    region = canvas[top : top + rows, left : left + columns]
    region[mask[:rows, :columns]] = value
