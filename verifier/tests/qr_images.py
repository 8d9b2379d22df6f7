"""Renders a QR text with segno (an encoder independent of the Rust `qrcode` crate) and
derives harder pictures from it with Pillow: rotated 90 degrees, noisy, JPEG, and a
photo-like one (small rotation, grey paper, uneven light, noise, big margins).

Usage: qr_images.py OUT_DIR TEXT. Writes plain.png, rot90.png, noise.png, photo.jpg.
"""

import random
import sys

import segno
from PIL import Image, ImageFilter


def main() -> None:
    out_dir, text = sys.argv[1], sys.argv[2]
    qr = segno.make(text, error="q", micro=False, boost_error=False)
    if qr.error != "Q":
        raise SystemExit(f"segno chose error level {qr.error}, expected Q")
    path = f"{out_dir}/plain.png"
    qr.save(path, scale=4, border=4)
    plain = Image.open(path).convert("L")

    plain.rotate(90, expand=True).save(f"{out_dir}/rot90.png")

    rng = random.Random(5)
    noisy = plain.copy()
    pixels = noisy.load()
    width, height = noisy.size
    for _ in range(width * height // 12):
        x, y = rng.randrange(width), rng.randrange(height)
        pixels[x, y] = 255 - pixels[x, y]
    for y in range(height):
        for x in range(width):
            pixels[x, y] = max(0, min(255, pixels[x, y] + rng.randint(-40, 40)))
    noisy.save(f"{out_dir}/noise.png")

    photo = plain.resize((width * 2, height * 2), Image.NEAREST)
    photo = photo.point(lambda v: 40 + v * 170 // 255)
    photo = photo.rotate(7, expand=True, fillcolor=210, resample=Image.BILINEAR)
    canvas = Image.new("L", (photo.width + 300, photo.height + 200), 200)
    canvas.paste(photo, (180, 90))
    light = canvas.load()
    for y in range(canvas.height):
        for x in range(canvas.width):
            shade = x * 50 // canvas.width
            light[x, y] = max(0, min(255, light[x, y] - shade + rng.randint(-12, 12)))
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.8))
    canvas.convert("RGB").save(f"{out_dir}/photo.jpg", quality=80)


if __name__ == "__main__":
    main()
