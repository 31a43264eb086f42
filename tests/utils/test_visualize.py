"""engine.utils.visualize: the drawing helpers of the browser and the deployment tools."""
import cv2
import numpy as np
import pytest

from engine.utils import visualize as V


def test_palette_is_fixed_and_distinct():
    assert V.PALETTE.shape == (256, 3) and tuple(V.PALETTE[0]) == (0, 0, 0)
    assert len({tuple(c) for c in V.PALETTE}) == 256
    assert tuple(V.PALETTE[1]) == (128, 0, 0) and tuple(V.PALETTE[2]) == (0, 128, 0)


def test_overlay_mask_colours_only_labelled_pixels():
    img = np.full((4, 5, 3), 100, np.uint8)
    mask = np.zeros((4, 5), np.uint8)
    mask[1, 1], mask[2, 3], mask[0, 4] = 1, 2, 255
    out = V.overlay_mask(img, mask, alpha=0.5, ignore_index=255)
    want1 = np.round(0.5 * 100 + 0.5 * V.PALETTE[1].astype(float))
    np.testing.assert_array_equal(out[1, 1], want1)
    np.testing.assert_array_equal(out[2, 3], np.round(0.5 * 100 + 0.5 * V.PALETTE[2].astype(float)))
    untouched = mask == 0
    untouched[0, 4] = True
    assert (out[untouched] == 100).all()
    assert (img == 100).all()  # the input is not modified


def test_draw_boxes_outlines_the_box_in_its_class_colour():
    img = np.zeros((40, 60), np.uint8)  # grey in, RGB out
    out = V.draw_boxes(img, np.array([[10, 20, 30, 35]]), labels=[3])
    assert out.shape == (40, 60, 3)
    colour = V.color_of(3)
    assert tuple(out[34, 20]) == colour and tuple(out[25, 10]) == colour  # bottom, left edges
    assert tuple(out[27, 20]) == (0, 0, 0)  # inside stays
    captioned = V.draw_boxes(img, [[10, 20, 30, 35]], labels=[1], scores=[0.9],
                             class_names=["a", "b"])
    assert (captioned[:20] != 0).any()  # the caption sits above the box


def test_draw_points_marks_each_point():
    out = V.draw_points(np.zeros((20, 20, 3), np.uint8), np.array([[5.5, 7.5], [15.2, 3.1]]))
    assert tuple(out[7, 5]) == V.color_of(0) and tuple(out[3, 15]) == V.color_of(1)


def test_put_label_writes_in_the_top_band_only():
    out = V.put_label(np.zeros((100, 100, 3), np.uint8), "epoch 3")
    assert (out[:15] != 0).any() and (out[50:] == 0).all()


def test_make_grid_size_and_placement():
    tiles = [np.full((3, 4, 3), k * 40, np.uint8) for k in range(5)]
    grid = V.make_grid(tiles, cols=2, pad=1)
    assert grid.shape == (3 * 3 + 4, 2 * 4 + 3, 3)
    assert (grid[1:4, 1:5] == 0).all() and (grid[1:4, 6:10] == 40).all()
    assert (grid[9:12, 1:5] == 160).all() and (grid[9:12, 6:10] == 255).all()  # last row: pad
    with pytest.raises(ValueError):
        V.make_grid([], cols=2)


def test_save_png_writes_rgb_in_the_right_channel_order(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = V.save_png(str(tmp_path / "sub" / "red.png"), rgb)
    back = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert back.shape == (2, 3, 3) and (back[..., 2] == 200).all() and (back[..., 0] == 0).all()


def test_float_images_are_scaled_for_display():
    out = V.to_rgb_uint8(np.full((2, 2), 0.5, np.float32))
    assert out.dtype == np.uint8 and (out == 128).all()
    assert (V.to_rgb_uint8(np.full((1, 1), 200.0)) == 200).all()  # already 0..255
