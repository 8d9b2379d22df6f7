"""Makes a corpus of QR images of real edl credentials, as phones and cameras show them.

Each image holds one QR text from TOKENS (one per line, made by the `fixture` example:
real tokens signed with a test key), drawn by one of two encoders independent of edl
(segno and python-qrcode, level Q as the daemon renders them) and then made hard in one
way per category: any rotation angle, perspective, scale, blur, noise, JPEG compression,
uneven light and glare, a photographed screen (moire), a small code in a large busy
photo, inverted colours, and all of these at once (a phone photo).

Usage: generate.py TOKENS OUT_DIR [--seed N] [--per-category N]

Writes OUT_DIR/<category>-<n>.png|jpg and OUT_DIR/manifest.tsv (file, category, the
expected text). The same seed, package versions and tokens give the same images.
"""

import argparse
import io
import math
import random

import numpy as np
import qrcode
import segno
from PIL import Image, ImageDraw, ImageFilter

PAPER = 255


def render(text, rng):
    """The QR code as a greyscale image, `module` pixels per module, quiet zone 4."""
    module = rng.choice([3, 4, 5, 6])
    if rng.random() < 0.5:
        code = segno.make(text, error="q", micro=False, boost_error=False)
        if code.error != "Q":
            raise SystemExit(f"segno chose level {code.error}, expected Q")
        buffer = io.BytesIO()
        code.save(buffer, kind="png", scale=module, border=4)
        buffer.seek(0)
        return Image.open(buffer).convert("L"), module
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_Q, box_size=module, border=4
    )
    code.add_data(text)
    code.make(fit=True)
    return code.make_image().get_image().convert("L"), module


def to_array(image):
    return np.asarray(image, dtype=np.float32)


def to_image(array):
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L")


def on_canvas(code, rng, margin=(40, 160), background=None):
    """The code on a larger page of a random grey, at a random place."""
    left, top = rng.randint(*margin), rng.randint(*margin)
    width = code.width + left + rng.randint(*margin)
    height = code.height + top + rng.randint(*margin)
    canvas = Image.new("L", (width, height), background or rng.randint(200, 250))
    canvas.paste(code, (left, top))
    return canvas


def contrast(image, rng, low=(20, 70), high=(170, 235)):
    """Ink is never black and paper never white in a photo."""
    dark, light = rng.randint(*low), rng.randint(*high)
    return image.point(lambda v: dark + (light - dark) * v // 255)


def rotate(image, angle, rng):
    return image.rotate(
        angle, expand=True, fillcolor=rng.randint(200, 250), resample=Image.BICUBIC
    )


def perspective_coefficients(source, target):
    """PIL's eight coefficients mapping target corners back to source corners."""
    rows = []
    for (x, y), (u, v) in zip(target, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=np.float64)
    b = np.array([c for point in source for c in point], dtype=np.float64)
    return np.linalg.solve(a, b).tolist()


def perspective(image, rng, strength):
    w, h = image.size
    pad = int(max(w, h) * strength)
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    moved = [(x + pad + rng.randint(-pad, pad), y + pad + rng.randint(-pad, pad)) for x, y in corners]
    size = (w + 2 * pad, h + 2 * pad)
    coefficients = perspective_coefficients(corners, moved)
    return image.transform(
        size, Image.PERSPECTIVE, coefficients, Image.BICUBIC, fillcolor=rng.randint(200, 250)
    )


def scaled(image, factor):
    w, h = image.size
    return image.resize(
        (max(1, round(w * factor)), max(1, round(h * factor))),
        Image.LANCZOS if factor < 1 else Image.BICUBIC,
    )


def noise(image, rng, sigma):
    generator = np.random.default_rng(rng.randrange(2**32))
    array = to_array(image) + generator.normal(0, sigma, (image.height, image.width))
    return to_image(array)


def jpeg(image, quality):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def uneven_light(image, rng, glare):
    """A light falling off across the page, and perhaps a glare spot."""
    h, w = image.height, image.width
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (x * math.cos(angle) + y * math.sin(angle)) / max(w, h)
    ramp = (ramp - ramp.min()) / max(1e-6, ramp.max() - ramp.min())
    depth = rng.uniform(0.35, 0.7)
    array = to_array(image) * (1 - depth * ramp)
    if glare:
        cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
        radius = rng.uniform(0.08, 0.2) * max(w, h)
        spot = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2)))
        array = array + spot * rng.uniform(90, 170)
    return to_image(array)


def screen_photo(code, rng):
    """A code shown on a phone screen and photographed: the screen's pixel grid, slightly
    rotated and resampled by the camera, beats into moire; light-on-dark bezel."""
    pitch = rng.choice([3, 4])
    big = scaled(code, pitch * rng.uniform(0.9, 1.3))
    array = to_array(big)
    h, w = array.shape
    y, x = np.mgrid[0:h, 0:w]
    grid = ((x % pitch) == 0) | ((y % pitch) == 0)
    array = np.where(grid, array * rng.uniform(0.45, 0.7), array)
    image = to_image(array)
    image = rotate(image, rng.uniform(-12, 12), rng)
    factor = rng.uniform(0.28, 0.45)
    image = scaled(image, factor)
    image = on_canvas(image, rng, margin=(20, 60), background=rng.randint(10, 40))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))


def busy_photo(code, rng):
    """A small code somewhere in a large photo full of edges, blobs and text-like lines."""
    w, h = rng.choice([(1600, 1200), (1280, 960), (2000, 1500)])
    generator = np.random.default_rng(rng.randrange(2**32))
    low = generator.normal(128, 50, (h // 40 + 1, w // 40 + 1))
    base = to_image(low).resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(60):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        shape = rng.random()
        fill = rng.randint(0, 255)
        if shape < 0.4:
            draw.rectangle([x0, y0, x0 + rng.randint(10, 200), y0 + rng.randint(10, 200)], fill=fill)
        elif shape < 0.7:
            draw.ellipse([x0, y0, x0 + rng.randint(10, 150), y0 + rng.randint(10, 150)], fill=fill)
        else:
            for line in range(rng.randint(2, 8)):
                yy = y0 + line * 14
                xx = x0
                while xx < x0 + rng.randint(80, 400):
                    word = rng.randint(8, 40)
                    draw.rectangle([xx, yy, xx + word, yy + 7], fill=fill)
                    xx += word + 6
    small = scaled(code, rng.uniform(0.5, 0.9))
    small = rotate(small, rng.uniform(-20, 20), rng)
    x, y = rng.randrange(0, w - small.width), rng.randrange(0, h - small.height)
    base.paste(small, (x, y))
    base = noise(base, rng, rng.uniform(3, 10))
    return base


def category_rotation(code, module, rng, n):
    angle = (n * 360 / 26 + rng.uniform(0, 360 / 26)) % 360
    return rotate(contrast(on_canvas(code, rng), rng), angle, rng)


def category_perspective(code, module, rng, n):
    image = contrast(on_canvas(code, rng), rng)
    return perspective(image, rng, rng.uniform(0.08, 0.28))


def category_scale(code, module, rng, n):
    factor = 0.3 * (4 / 0.3) ** (n / 25) if n < 26 else rng.uniform(0.3, 4)
    # 0.3x to 4x of a 5-pixel module: from 1.5 to 20 pixels per module.
    factor *= 5 / module
    return scaled(contrast(on_canvas(code, rng), rng), factor)


def category_blur(code, module, rng, n):
    radius = module * rng.uniform(0.15, 0.6)
    image = on_canvas(code, rng)
    return image.filter(ImageFilter.GaussianBlur(radius))


def category_noise(code, module, rng, n):
    image = contrast(on_canvas(code, rng), rng)
    image = noise(image, rng, rng.uniform(15, 70))
    if rng.random() < 0.5:
        array = to_array(image)
        generator = np.random.default_rng(rng.randrange(2**32))
        mask = generator.random(array.shape)
        share = rng.uniform(0.01, 0.06)
        array[mask < share / 2] = 0
        array[mask > 1 - share / 2] = 255
        image = to_image(array)
    return image


def category_jpeg(code, module, rng, n):
    image = contrast(on_canvas(code, rng), rng)
    image = scaled(image, rng.uniform(0.5, 1.0))
    return jpeg(image, 30 + (n * 60 // 25) % 61)


def category_light(code, module, rng, n):
    image = on_canvas(code, rng)
    return uneven_light(contrast(image, rng), rng, glare=n % 2 == 0)


def category_moire(code, module, rng, n):
    return screen_photo(code, rng)


def category_busy(code, module, rng, n):
    return jpeg(busy_photo(code, rng), rng.randint(60, 90))


def category_inverted(code, module, rng, n):
    image = on_canvas(code, rng, background=PAPER)
    image = image.point(lambda v: 255 - v)
    image = contrast(image, rng)
    if n % 2:
        image = rotate(image, rng.uniform(0, 360), rng)
    return image


def category_phone(code, module, rng, n):
    image = contrast(on_canvas(code, rng), rng)
    image = rotate(image, rng.uniform(0, 360), rng)
    image = perspective(image, rng, rng.uniform(0.04, 0.15))
    image = uneven_light(image, rng, glare=rng.random() < 0.4)
    image = image.filter(ImageFilter.GaussianBlur(module * rng.uniform(0.1, 0.35)))
    image = noise(image, rng, rng.uniform(5, 25))
    image = scaled(image, rng.uniform(0.6, 1.4))
    return jpeg(image, rng.randint(40, 85))


CATEGORIES = [
    ("rotation", category_rotation),
    ("perspective", category_perspective),
    ("scale", category_scale),
    ("blur", category_blur),
    ("noise", category_noise),
    ("jpeg", category_jpeg),
    ("light", category_light),
    ("moire", category_moire),
    ("busy", category_busy),
    ("inverted", category_inverted),
    ("phone", category_phone),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tokens")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--per-category", type=int, default=28)
    args = parser.parse_args()
    with open(args.tokens) as f:
        texts = [line.strip() for line in f if line.strip()]
    manifest = []
    for name, make in CATEGORIES:
        for n in range(args.per_category):
            # One generator per image: a subset (fewer per category) is a prefix of the
            # full corpus, image for image.
            rng = random.Random(f"{args.seed}/{name}/{n}")
            text = texts[rng.randrange(len(texts))]
            code, module = render(text, rng)
            made = make(code, module, rng, n)
            if isinstance(made, bytes):
                file = f"{name}-{n:02}.jpg"
                with open(f"{args.out_dir}/{file}", "wb") as f:
                    f.write(made)
            else:
                file = f"{name}-{n:02}.png"
                made.save(f"{args.out_dir}/{file}")
            manifest.append(f"{file}\t{name}\t{text}\n")
    with open(f"{args.out_dir}/manifest.tsv", "w") as f:
        f.writelines(manifest)


if __name__ == "__main__":
    main()
