"""Writes one picture of a digit in every PNG colour type and bit depth
Pillow writes, and as JPEG, each beside its RGBA pixels as Pillow decodes
them (<file>.rgba, the independent reference), plus files that are not
pictures a decoder should take. Tests only (Pillow).

Usage: make_formats.py OUTDIR
"""
import os
import sys
import zlib

import numpy
from PIL import Image, ImageDraw, ImageFont

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 48)
base = Image.new("RGBA", (40, 56), (255, 255, 255, 0))
ImageDraw.Draw(base).text((6, 0), "7", font=font, fill=(30, 60, 200, 255))
rgb = Image.alpha_composite(Image.new("RGBA", base.size, (255, 255, 255, 255)), base).convert("RGB")


def save(img, name, **kw):
    path = os.path.join(out, name)
    img.save(path, **kw)
    with Image.open(path) as back:
        back = back.convert("RGBA")
        if name.endswith(".png") and img.mode == "I;16":
            # Pillow reads 16-bit grey as 32-bit ints: reference is the top byte.
            arr = numpy.asarray(Image.open(path), dtype=numpy.uint32) >> 8
            g = arr.astype(numpy.uint8)
            back = Image.fromarray(numpy.dstack([g, g, g, numpy.full_like(g, 255)]), "RGBA")
        open(path + ".rgba", "wb").write(back.tobytes())


save(rgb.convert("1"), "mode_1.png")
save(rgb.convert("L"), "mode_L.png")
save(rgb.convert("L").convert("P"), "mode_P_grey4.png", bits=4)
save(rgb.convert("P", palette=Image.ADAPTIVE, colors=16), "mode_P.png")
p_t = base.convert("P", palette=Image.ADAPTIVE, colors=16)
save(p_t, "mode_P_transparent.png", transparency=p_t.getpixel((0, 0)))
save(base.convert("LA"), "mode_LA.png")
save(rgb, "mode_RGB.png")
save(base, "mode_RGBA.png")
grey16 = numpy.asarray(rgb.convert("L"), dtype=numpy.uint16) * 257
save(Image.fromarray(grey16), "mode_I16.png")
save(rgb, "rgb.jpg", quality=92)
save(rgb.convert("L"), "grey.jpg", quality=92)

bad = os.path.join(out, "bad")
os.makedirs(bad, exist_ok=True)
rgb.save(os.path.join(bad, "digit.gif"))
rgb.save(os.path.join(bad, "digit.bmp"))
open(os.path.join(bad, "empty.png"), "wb").close()
open(os.path.join(bad, "text.png"), "wb").write(b"this is not a picture\n")
png = open(os.path.join(out, "mode_RGB.png"), "rb").read()
open(os.path.join(bad, "truncated.png"), "wb").write(png[: len(png) // 2])
corrupt = bytearray(png)
idat = png.index(b"IDAT") + 8
for i in range(idat, min(idat + 40, len(png) - 12)):
    corrupt[i] ^= 0x5A
open(os.path.join(bad, "corrupt.png"), "wb").write(bytes(corrupt))
jpg = open(os.path.join(out, "rgb.jpg"), "rb").read()
open(os.path.join(bad, "truncated.jpg"), "wb").write(jpg[: len(jpg) // 3])
Image.new("1", (6000, 6000), 1).save(os.path.join(bad, "huge.png"))
Image.new("RGB", (64, 64), (255, 255, 255)).save(os.path.join(bad, "blank_white.png"))
Image.new("L", (64, 64), 0).save(os.path.join(bad, "blank_black.png"))
noise = numpy.random.default_rng(3).integers(118, 138, (64, 64), dtype=numpy.uint8)
Image.fromarray(noise).save(os.path.join(bad, "blank_noise.png"))
