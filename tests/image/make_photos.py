"""Makes photo-like pictures of handwriting for the image tests: MNIST *test*
digits rendered large as dark ink (or faint pencil) on lit paper, the way a
phone photographs a page: light that changes across the paper (a gradient and
a vignette), paper grain and blotches, a little blur, a slight rotation, the
digit off-centre, on plain, ruled or squared paper whose lines do not touch
the digit, saved as PNG or JPEG. An independent maker of test pictures
(Pillow and NumPy, tests only), deterministic for a given seed.

Usage: make_photos.py IDX_IMAGES IDX_LABELS OUTDIR COUNT [SEED]
Reads the first COUNT digits of the IDX files (MNIST's t10k files); writes
OUTDIR/<i>_<digit>_<paper>_<ink>.<png|jpg> and OUTDIR/labels.json
({"file": digit}, in the order of the digits).
"""
import json
import math
import os
import sys

import numpy
from PIL import Image, ImageFilter


def read_idx(path):
    data = open(path, "rb").read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=4 + 4 * ndims).reshape(dims)


def smooth_noise(rng, h, w, scale, sigma):
    """Low-frequency blotches: coarse noise, upsampled smoothly."""
    gh, gw = max(2, h // scale + 2), max(2, w // scale + 2)
    coarse = rng.normal(0, sigma, (gh, gw)).astype(numpy.float32)
    img = Image.fromarray(coarse, mode="F").resize((w, h), Image.BICUBIC)
    return numpy.asarray(img, dtype=numpy.float32)


def render(rng, digit_pixels, index, label):
    # The page, and the digit's box on it.
    side = int(rng.integers(140, 420))
    width = int(side * rng.uniform(1.0, 1.35))
    height = int(side * rng.uniform(1.0, 1.35))
    box = int(side * rng.uniform(0.42, 0.68))  # the 28×28 field, scaled
    pencil = rng.random() < 0.25
    # Coverage of the ink: the MNIST digit upscaled smoothly, sharpened into
    # a pen's stroke (pencil: thinner, grainy), rotated a little.
    small = Image.fromarray(digit_pixels, mode="L")
    big = numpy.asarray(small.resize((box, box), Image.BICUBIC), dtype=numpy.float32) / 255
    if pencil:
        cover = numpy.clip((big - 0.35) / 0.4, 0, 1)
    else:
        cover = numpy.clip((big - 0.2) / 0.45, 0, 1)
    angle = float(rng.uniform(-12, 12))
    cover_img = Image.fromarray(cover, mode="F").rotate(angle, resample=Image.BILINEAR, expand=False)
    cover = numpy.clip(numpy.asarray(cover_img, dtype=numpy.float32), 0, 1)
    # Off-centre: anywhere on the page with a margin.
    margin = max(2, side // 40)
    left = int(rng.integers(margin, max(margin + 1, width - box - margin)))
    top = int(rng.integers(margin, max(margin + 1, height - box - margin)))
    page_cover = numpy.zeros((height, width), dtype=numpy.float32)
    page_cover[top:top + box, left:left + box] = cover[: height - top, : width - left]

    # Reflectance: paper with grain and blotches, paper lines, ink on top.
    paper = rng.uniform(0.78, 0.95)
    grain = rng.uniform(0.01, 0.045)
    reflect = paper * (1 + rng.normal(0, grain, (height, width)).astype(numpy.float32)
                       + smooth_noise(rng, height, width, max(4, side // 12), 0.025))
    kind = ["plain", "ruled", "squared"][index % 3]
    if kind != "plain":
        ys, xs = numpy.nonzero(page_cover > 0.02)
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        line = numpy.zeros((height, width), dtype=numpy.float32)
        thick = max(1, side // 150)
        shade = rng.uniform(0.12, 0.25)
        gap = 3 + side // 60
        # Horizontal lines: one above and one below the digit, then every
        # `pitch` pixels; squared paper adds vertical lines the same way.
        pitch_y = int((y1 - y0) + 2 * gap + rng.integers(0, side // 10 + 1))
        first = y0 - gap - thick
        rows = list(range(first, -thick, -pitch_y)) + list(range(first + pitch_y, height, pitch_y))
        for r in rows:
            if r + thick > y0 - gap and r < y1 + gap:
                continue
            line[max(0, r): max(0, r + thick), :] = shade
        if kind == "squared":
            pitch_x = int((x1 - x0) + 2 * gap + rng.integers(0, side // 10 + 1))
            first = x0 - gap - thick
            cols = list(range(first, -thick, -pitch_x)) + list(range(first + pitch_x, width, pitch_x))
            for c in cols:
                if c + thick > x0 - gap and c < x1 + gap:
                    continue
                line[:, max(0, c): max(0, c + thick)] = shade
        reflect *= 1 - line
    if pencil:
        ink = rng.uniform(0.45, 0.65)  # faint: a little darker than paper
        texture = numpy.clip(1 + rng.normal(0, 0.15, (height, width)), 0.6, 1.3)
        alpha = numpy.clip(page_cover * texture, 0, 1)
    else:
        ink = rng.uniform(0.06, 0.25)
        alpha = page_cover
    reflect = reflect * (1 - alpha) + ink * paper * alpha

    # Light: a gradient across the page and a vignette, a little colour cast.
    yy, xx = numpy.mgrid[0:height, 0:width].astype(numpy.float32)
    theta = rng.uniform(0, 2 * math.pi)
    ramp = ((xx / width - 0.5) * math.cos(theta) + (yy / height - 0.5) * math.sin(theta))
    light = 1.0 + rng.uniform(0.25, 0.55) * ramp
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    r2 = ((xx - cx) / width) ** 2 + ((yy - cy) / height) ** 2
    light *= 1 - rng.uniform(0.1, 0.35) * r2 / 0.5
    light *= rng.uniform(0.85, 1.05) * 255
    cast = numpy.array([rng.uniform(0.95, 1.05), 1.0, rng.uniform(0.88, 1.0)], dtype=numpy.float32)
    rgb = (reflect * light)[:, :, None] * cast[None, None, :]
    rgb += rng.normal(0, 2.0, rgb.shape)  # sensor noise
    img = Image.fromarray(numpy.clip(rgb, 0, 255).astype(numpy.uint8), mode="RGB")
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.6 + side / 250)))
    return img, kind, "pencil" if pencil else "ink"


def main():
    images_path, labels_path, out, count = sys.argv[1:5]
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 19
    count = int(count)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    os.makedirs(out, exist_ok=True)
    rng = numpy.random.default_rng(seed)
    names = {}
    for i in range(count):
        img, kind, ink = render(rng, images[i], i, int(labels[i]))
        if rng.random() < 0.5:
            name = f"{i:04d}_{labels[i]}_{kind}_{ink}.jpg"
            img.save(os.path.join(out, name), quality=int(rng.integers(60, 92)))
        else:
            name = f"{i:04d}_{labels[i]}_{kind}_{ink}.png"
            img.save(os.path.join(out, name))
        names[name] = int(labels[i])
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(names, f, indent=1)


if __name__ == "__main__":
    main()
