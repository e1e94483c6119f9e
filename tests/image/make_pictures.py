"""Draws pictures of digits for the image tests: Debian's DejaVu and Liberation
fonts at several sizes, stroke widths and positions, in five styles (dark ink
on white; coloured ink on grey, noisy paper; light ink on dark; transparent
PNG; JPEG), in PNG colour types RGB, grey, palette, grey+alpha, RGBA and
16-bit grey. An independent maker of test pictures (Pillow, tests only).

Usage: make_pictures.py OUTDIR [PER_DIGIT]
Writes OUTDIR/<i>_<digit>_<style>.<ext> and OUTDIR/labels.json
({"file": digit}).
"""
import json
import os
import random
import sys

import numpy
from PIL import Image, ImageDraw, ImageFont

FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
]
STYLES = ["dark_on_white", "colour_on_noisy_grey", "light_on_dark",
          "transparent", "jpeg"]


def draw_digit(rng, digit, style):
    size = rng.choice([48, 64, 96, 128, 200, 320])
    w = int(size * rng.uniform(0.8, 1.4))
    h = int(size * rng.uniform(0.8, 1.4))
    font = ImageFont.truetype(rng.choice([f for f in FONTS if os.path.exists(f)]),
                              int(min(w, h) * rng.uniform(0.45, 0.8)))
    stroke = rng.choice([0, 0, 1, 2]) * max(1, size // 80)
    text = str(digit)
    box = font.getbbox(text, stroke_width=stroke)
    tw, th = box[2] - box[0], box[3] - box[1]
    x = rng.randint(0, max(0, w - tw)) - box[0]
    y = rng.randint(0, max(0, h - th)) - box[1]
    if style == "transparent":
        img = Image.new("RGBA", (w, h), (255, 255, 255, 0))
        ink = (rng.randint(0, 60),) * 3 + (255,)
    elif style == "light_on_dark":
        img = Image.new("RGB", (w, h), (rng.randint(0, 50),) * 3)
        ink = (rng.randint(200, 255),) * 3
    elif style == "colour_on_noisy_grey":
        level = rng.randint(150, 215)
        img = Image.new("RGB", (w, h), (level, level, level))
        ink = rng.choice([(20, 40, 170), (170, 20, 30), (20, 110, 40)])
    else:
        img = Image.new("RGB", (w, h), (255, 255, 255))
        ink = (rng.randint(0, 60),) * 3
    ImageDraw.Draw(img).text((x, y), text, font=font, fill=ink,
                             stroke_width=stroke, stroke_fill=ink)
    if style == "colour_on_noisy_grey":
        px = img.load()
        for j in range(h):
            for i in range(w):
                n = rng.randint(-18, 18)
                px[i, j] = tuple(max(0, min(255, c + n)) for c in px[i, j])
    return img


def main():
    out = sys.argv[1]
    per_digit = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1998)
    labels = {}
    modes = ["RGB", "L", "P", "LA", "I;16"]
    k = 0
    for digit in range(10):
        for i in range(per_digit):
            style = STYLES[(digit + i) % len(STYLES)]
            img = draw_digit(rng, digit, style)
            if style == "jpeg":
                name = f"{k:03d}_{digit}_{style}.jpg"
                img.convert("RGB").save(os.path.join(out, name), quality=85)
            else:
                mode = "RGBA" if style == "transparent" else modes[(2 * k) % len(modes)]
                if mode == "LA" or style == "transparent":
                    img = img.convert("RGBA")
                    if mode == "LA":
                        img = img.convert("LA")
                elif mode == "P":
                    img = img.convert("P", palette=Image.ADAPTIVE, colors=64)
                elif mode == "I;16":
                    grey = numpy.asarray(img.convert("L"), dtype=numpy.uint16)
                    img = Image.fromarray(grey * 257)  # 16-bit, full range
                else:
                    img = img.convert(mode)
                name = f"{k:03d}_{digit}_{style}_{mode.replace(';', '')}.png"
                img.save(os.path.join(out, name))
            labels[name] = digit
            k += 1
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)


if __name__ == "__main__":
    main()
