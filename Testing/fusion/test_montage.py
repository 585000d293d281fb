"""The fusion montage names its columns (the volumes) and rows (the planes): the labels are burnt in with the
bundled bitmap font, found pixel for pixel where they belong."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.fusion.montage import LABEL_MARGIN, LABEL_SCALE, PLANE_NAMES, write_fusion_montage
from CTMRFusionLib.imaging.bitmap_font import GLYPH_HEIGHT, text_mask


def test_columns_and_rows_are_labelled(tmp_path, demo_images):
    ct = sitk.GetArrayFromImage(sitk.Shrink(demo_images[0], [4, 4, 4])).astype(np.float32)
    ct = np.clip((ct + 100) * 255 / 300, 0, 255)
    volumes = {"CT": ct, "MR": 255 - ct, "gff": ct / 2}
    titles = write_fusion_montage(volumes, tmp_path / "m.png")
    assert titles == ["CT", "MR", "gff"]
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "m.png")))
    top = GLYPH_HEIGHT * LABEL_SCALE + 2 * LABEL_MARGIN
    left = max(text_mask(name, LABEL_SCALE).shape[1] for name in PLANE_NAMES) + 2 * LABEL_MARGIN
    width = max(ct.shape[2], ct.shape[1])  # planes: axial (j, i), coronal (k, i), sagittal (k, j)
    for column, title in enumerate(titles):
        mask = text_mask(title, LABEL_SCALE)
        x = left + column * (width + 4)
        region = image[LABEL_MARGIN : LABEL_MARGIN + mask.shape[0], x : x + mask.shape[1]]
        assert np.array_equal(region == 255, mask), title
    height = max(ct.shape[1], ct.shape[0])
    for row, name in enumerate(PLANE_NAMES):
        mask = text_mask(name, LABEL_SCALE)
        y = top + row * (height + 4) + LABEL_MARGIN
        region = image[y : y + mask.shape[0], LABEL_MARGIN : LABEL_MARGIN + mask.shape[1]]
        assert np.array_equal(region == 255, mask), name
    title_end = 2 * (width + 4) + text_mask(titles[-1], LABEL_SCALE).shape[1]
    assert image.shape == (top + 3 * height + 8, left + max(3 * width + 8, title_end))


def test_unknown_characters_draw_as_blanks_and_text_scales():
    assert text_mask("a~", 1).shape == (GLYPH_HEIGHT, 11)
    assert not text_mask("~", 3).any() and text_mask("A", 3).shape == (21, 15)
