"""Contact sheets: a few frames of a render side by side in one PNG, captioned by time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def contact_sheet(images: Sequence[np.ndarray], labels: Sequence[str], out: Path, *,
                  columns: int = 4, thumb_width: int = 384) -> Path:
    """Write RGB frames as a grid of thumbnails, each labelled, to the PNG at out."""
    if not images:
        raise ValueError("a contact sheet needs at least one frame")
    h, w = images[0].shape[:2]
    tw, th = thumb_width, max(1, round(thumb_width * h / w))
    rows = (len(images) + columns - 1) // columns
    label_h = 14
    sheet = Image.new("RGB", (columns * tw, rows * (th + label_h)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        x, y = (i % columns) * tw, (i // columns) * (th + label_h)
        sheet.paste(Image.fromarray(img).resize((tw, th), Image.Resampling.BOX), (x, y))
        draw.text((x + 3, y + th + 1), label, fill=(220, 220, 220))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
