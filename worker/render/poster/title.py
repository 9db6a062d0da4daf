"""Text drawn on a poster: a few lines of markdown-like text, centred, with a soft shadow.

'# ' starts a title line, '## ' a subtitle, anything else is body text; blank lines leave a
gap. Sizes are shares of the image height, so a print-resolution poster gets the same layout.
The font is Pillow's built-in scalable one, so the same text draws the same pixels anywhere.
Text is only ever drawn, never interpreted.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZES = {"#": 0.11, "##": 0.055, "": 0.035}  # × image height
GAP = 0.35  # × the line's size, between lines


def parse(text: str) -> list[tuple[str, str]]:
    """(style, words) per line: style '#', '##' or '' (body)."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        style = ""
        for mark in ("##", "#"):
            if line.startswith(mark + " ") or line == mark:
                style, line = mark, line[len(mark):].strip()
                break
        lines.append((style, line))
    while lines and not lines[-1][1]:
        lines.pop()
    return lines


def draw_title(image: np.ndarray, text: str, color: tuple[int, int, int],
               y_offset: float = 0.0) -> np.ndarray:
    """The RGB image with the text centred on it (shifted by y_offset × height)."""
    img = Image.fromarray(image).convert("RGBA")
    h = img.height
    lines = parse(text)
    if not lines:
        return image
    fonts = [ImageFont.load_default(size=max(6, round(SIZES[s] * h))) for s, _ in lines]
    heights = [max(1, round(SIZES[s] * h)) for s, _ in lines]
    total = sum(hh * (1 + GAP) for hh in heights) - heights[-1] * GAP
    y = h / 2 + y_offset * h - total / 2
    text_layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    shadow = Image.new("RGBA", img.size, (0, 0, 0, 0))
    td, sd = ImageDraw.Draw(text_layer), ImageDraw.Draw(shadow)
    for (_, words), font, hh in zip(lines, fonts, heights, strict=True):
        if words:
            x = img.width / 2
            td.text((x, y), words, font=font, fill=(*color, 255), anchor="mt")
            sd.text((x, y), words, font=font, fill=(0, 0, 0, 200), anchor="mt",
                    stroke_width=max(1, round(hh * 0.06)), stroke_fill=(0, 0, 0, 200))
        y += hh * (1 + GAP)
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1, h // 200)))
    out = Image.alpha_composite(Image.alpha_composite(img, shadow), text_layer)
    return np.asarray(out.convert("RGB"))
