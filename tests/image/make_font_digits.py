"""Draws the digits 0-9 as a user types, prints or screenshots them: black
on white in six ordinary fonts (Debian's DejaVu and Liberation), regular
size, centred with a margin. The clean case the preprocessing must not cut.
An independent maker of test pictures (Pillow, tests only).

Usage: make_font_digits.py OUTDIR [FONT_SIZE SIDE]  (default 64 100)
Writes OUTDIR/<font>_<digit>.png and OUTDIR/labels.json ({"file": digit}).
"""
import json
import os
import sys

from PIL import Image, ImageDraw, ImageFont

FONTS = {
    "dejavu_sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "dejavu_sans_bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "dejavu_serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "liberation_sans": "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "liberation_serif": "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "liberation_mono": "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
}


def main():
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    side = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    os.makedirs(out, exist_ok=True)
    labels = {}
    for name, path in FONTS.items():
        font = ImageFont.truetype(path, size)
        for digit in range(10):
            img = Image.new("L", (side, side), 255)
            draw = ImageDraw.Draw(img)
            box = draw.textbbox((0, 0), str(digit), font=font)
            x = (side - (box[2] - box[0])) // 2 - box[0]
            y = (side - (box[3] - box[1])) // 2 - box[1]
            draw.text((x, y), str(digit), font=font, fill=0)
            file = f"{name}_{digit}.png"
            img.save(os.path.join(out, file))
            labels[file] = digit
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(labels, f)


if __name__ == "__main__":
    main()
