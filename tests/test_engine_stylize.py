"""Behaviour of quality stylization on small images: style moves, content stays, controls do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from engine.imageio.color import rgb_to_yiq
from engine.imageio.tensors import resize_image, scale_sizes, to_numpy, to_tensor
from engine.measures.metrics import content_distance, style_distance
from engine.optimizer.masks import Region
from engine.optimizer.options import StylizeOptions
from engine.optimizer.results import Progress
from engine.runtime.errors import Cancelled, EngineError
from engine.stylize import StyleTransfer

FAST = dict(size_px=64, iterations=40, scales=1)


def at_size(image, like):
    """`image` resized to the pixel size of `like` (both H x W x 3)."""
    import torch

    return to_numpy(resize_image(to_tensor(image, torch.device("cpu")), *like.shape[:2]))


def test_style_statistics_move_toward_the_painting(engine, content, starry):
    result = engine.stylize(content, [starry], **FAST).image
    before = style_distance(at_size(content, result), starry, 64)
    after = style_distance(result, starry, 64)
    assert after < 0.5 * before, (before, after)


def test_content_stays_recognisable(engine, content, starry):
    result = engine.stylize(content, [starry], size_px=96, iterations=40, scales=1).image
    kept = content_distance(result, content, 96)
    assert kept < 0.85 * content_distance(result[:, ::-1].copy(), content, 96)  # its layout, not a mirror image's
    assert kept < 0.85 * content_distance(at_size(starry, result), content, 96)
    coarse = lambda image: rgb_to_yiq(at_size(image, np.zeros((8, 11, 3))))[..., 0].ravel()  # noqa: E731
    assert np.corrcoef(coarse(result), coarse(content))[0, 1] > 0.7


def test_luminance_mode_keeps_the_content_chroma(engine, content, starry):
    result = engine.stylize(content, [starry], preserve_color="luminance", **FAST).image
    base = at_size(content, result)
    chroma_out, chroma_in = rgb_to_yiq(result)[..., 1:], rgb_to_yiq(base)[..., 1:]
    unclipped = ((result > 0.01) & (result < 0.99)).all(-1)
    assert np.abs(chroma_out - chroma_in)[unclipped].max() < 0.01
    plain = engine.stylize(content, [starry], **FAST).image
    assert np.abs(rgb_to_yiq(plain)[..., 1:] - chroma_in).mean() > 5 * np.abs(chroma_out - chroma_in).mean()


def test_histogram_mode_gives_the_content_palette(engine, content, starry):
    result = engine.stylize(content, [starry], preserve_color="histogram", **FAST).image
    plain = engine.stylize(content, [starry], **FAST).image
    base = at_size(content, result)
    assert np.abs(result.mean((0, 1)) - base.mean((0, 1))).sum() < np.abs(plain.mean((0, 1)) - base.mean((0, 1))).sum()


def test_keep_original_region_is_unchanged_and_regions_take_their_own_styles(engine, content, starry, shipwreck):
    height, width = content.shape[:2]
    labels = np.zeros((height, width), np.int64)
    labels[:, : width // 3] = 1  # left third: starry night
    labels[:, width // 3: 2 * width // 3] = 2  # middle third: kept
    labels[:, 2 * width // 3:] = 3  # right third: shipwreck
    regions = {1: Region(styles=[starry]), 2: Region(keep_original=True), 3: Region(styles=[shipwreck])}
    result = engine.stylize(content, [starry], label_map=labels, regions=regions, size_px=96, iterations=60,
                            scales=1).image
    assert result.shape == content.shape
    middle = slice(width // 3, 2 * width // 3)
    np.testing.assert_allclose(result[:, middle], content[:, middle], atol=1e-6)
    left, right = (labels == 1).astype(np.float32), (labels == 3).astype(np.float32)
    assert style_distance(result, starry, 96, left) < style_distance(result, shipwreck, 96, left)
    assert style_distance(result, shipwreck, 96, right) < style_distance(result, starry, 96, right)


def test_full_resolution_results_keep_regions_exact_at_the_content_size(engine, content, starry):
    labels = np.zeros(content.shape[:2], np.int64)
    labels[:, 40:] = 1
    result = engine.stylize(content, [starry], label_map=labels, regions={1: Region(keep_original=True)},
                            size_px=48, iterations=5, scales=1, full_resolution=True)
    assert result.image.shape == content.shape and result.settings["width_px"] == content.shape[1]
    np.testing.assert_array_equal(result.image[:, 41:], content[:, 41:])
    assert np.abs(result.image[:, :38] - content[:, :38]).mean() > 0.02


def test_blend_weights_move_the_result_between_two_styles(engine, content, starry, shipwreck):
    def ratio(weights):
        image = engine.stylize(content, [starry, shipwreck], style_blend=weights, **FAST).image
        return style_distance(image, starry, 64) / style_distance(image, shipwreck, 64)

    mostly_starry, half, mostly_shipwreck = ratio([0.9, 0.1]), ratio([0.5, 0.5]), ratio([0.1, 0.9])
    assert mostly_starry < half < mostly_shipwreck


def test_strength_zero_returns_the_content_and_strength_orders_the_effect(engine, content, starry):
    base = engine.stylize(content, [starry], style_strength=0.0, **FAST).image
    np.testing.assert_array_equal(base, at_size(content, base))
    weak = style_distance(engine.stylize(content, [starry], style_strength=0.4, **FAST).image, starry, 64)
    full = style_distance(engine.stylize(content, [starry], style_strength=1.0, **FAST).image, starry, 64)
    assert full < weak


def test_same_seed_repeats_and_noise_init_depends_on_it(engine, content, starry):
    one = engine.stylize(content, [starry], init="noise", seed=1, **FAST).image
    again = engine.stylize(content, [starry], init="noise", seed=1, **FAST).image
    other = engine.stylize(content, [starry], init="noise", seed=2, **FAST).image
    np.testing.assert_array_equal(one, again)
    assert np.abs(one - other).mean() > 1e-3


@pytest.mark.parametrize("options", [dict(optimizer="adam", learning_rate=0.03, iterations=80),
                                     dict(style_loss="mean_cov"),
                                     dict(style_layer_weights=[4, 2, 1, 0.5, 0.25])])
def test_other_optimizers_and_losses_also_stylize(engine, content, starry, options):
    settings = {**FAST, **options}
    result = engine.stylize(content, [starry], **settings).image
    assert style_distance(result, starry, 64) < 0.6 * style_distance(at_size(content, result), starry, 64)


def test_coarse_to_fine_reports_every_scale_and_ends_at_the_requested_size(engine, content, starry):
    events: list[Progress] = []
    result = engine.stylize(content, [starry], size_px=80, iterations=5, scales=3, callback=events.append)
    assert result.image.shape[:2] == (60, 80)
    assert [e.scale for e in events] == [1] * 5 + [2] * 5 + [3] * 5
    assert (events[0].width_px, events[0].height_px) == (22, 16)  # grown so the short side keeps 16 px
    assert (events[-1].width_px, events[-1].height_px) == (80, 60)
    assert all(b.fraction_done >= a.fraction_done for a, b in zip(events, events[1:]))
    assert events[-1].fraction_done == 1.0 and events[-1].image().shape == (60, 80, 3)
    assert scale_sizes(512, None) == [128, 256, 512]


def test_a_callback_can_cancel(engine, content, starry):
    def cancel_at_third(progress):
        if progress.iteration == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        engine.stylize(content, [starry], callback=cancel_at_third, **FAST)


def test_the_style_cache_is_hit_on_a_second_run(tmp_path, content, starry):
    first = StyleTransfer(device="cpu", cache_dir=tmp_path)
    one = first.stylize(content, [starry], **FAST)
    assert (one.cache_hits, one.cache_misses) == (0, 1)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    second = StyleTransfer(device="cpu", cache_dir=tmp_path)  # a new process would start like this
    two = second.stylize(content, [starry], **FAST)
    assert (two.cache_hits, two.cache_misses) == (1, 0)
    np.testing.assert_allclose(one.image, two.image, atol=1e-5)
    other_size = second.stylize(content, [starry], size_px=48, iterations=2, scales=1)
    assert other_size.cache_misses == 1  # a different style size is a different target


@pytest.mark.parametrize("options, message", [
    (dict(content_layers=["relu9_9"]), "unknown VGG-19 layer"),
    (dict(style_strength=1.5), "between 0 and 1"),
    (dict(style_blend=[1, 2, 3]), "one weight per style"),
    (dict(optimizer="sgd"), "unknown optimizer"),
    (dict(preserve_color="sepia"), "unknown colour preservation"),
    (dict(style_layer_weights=[1, 2]), "one weight per layer"),
])
def test_bad_settings_are_named(engine, content, starry, options, message):
    with pytest.raises(EngineError, match=message):
        engine.stylize(content, [starry], **{**FAST, **options})


def test_mask_of_the_wrong_size_is_refused(engine, content, starry):
    with pytest.raises(EngineError, match="make the mask at the content's resolution"):
        engine.stylize(content, [starry], label_map=np.zeros((10, 10), np.int64), **FAST)


def test_options_object_and_keyword_settings_give_the_same_job(engine, content, starry):
    by_keywords = engine.stylize(content, [starry], size_px=48, iterations=3, scales=1)
    options = StylizeOptions(size_px=48, iterations=3, scales=1)
    by_options = engine.stylize(content, [starry], options=options)
    np.testing.assert_array_equal(by_keywords.image, by_options.image)
    assert by_options.options == by_keywords.options == StylizeOptions(size_px=48, iterations=3, scales=1,
                                                                       precision=engine.precision)
    with pytest.raises(TypeError, match="not both"):
        engine.stylize(content, [starry], options=options, iterations=4)
    with pytest.raises(EngineError, match="iterations must be at least 1"):
        StylizeOptions(iterations=0)


def test_init_any_starts_from_the_any_style_result_with_the_same_blend_regions_and_strength(engine, content, starry,
                                                                                          shipwreck):
    """--init any is the any-style picture of the same job: starting from it explicitly gives the same result, and
    one iteration from it is already far closer to the paintings than one from the content."""
    from engine.anystyle import get_any_stylizer

    label_map = np.zeros(content.shape[:2], np.int32)
    label_map[:, content.shape[1] // 2:] = 1
    regions = {1: Region(strength=0.5)}
    job = dict(size_px=48, scales=1, iterations=1, style_blend=(0.7, 0.3), style_strength=0.8, seed=0)
    warm = engine.stylize(content, [starry, shipwreck], init="any", label_map=label_map, regions=regions, **job)
    start = get_any_stylizer("cpu", cache_dir=None).stylize(
        content, [starry, shipwreck], style_weights=[0.7, 0.3], strength=0.8, mask=label_map, regions=regions,
        size_px=48).image
    given = engine.stylize(content, [starry, shipwreck], init=start, label_map=label_map, regions=regions, **job)
    np.testing.assert_allclose(warm.image, given.image, atol=1e-5)
    assert warm.settings["init"] == "any" and given.settings["init"] == "image"
    cold = engine.stylize(content, [starry], size_px=48, scales=1, iterations=1, seed=0, init="content")
    hot = engine.stylize(content, [starry], size_px=48, scales=1, iterations=1, seed=0, init="any")
    assert style_distance(hot.image, starry, 128) < 0.8 * style_distance(cold.image, starry, 128)


def test_a_warm_start_takes_the_short_schedule_and_a_cold_start_keeps_the_long_one():
    """Issue 21: from the any-style result the default is fewer iterations per scale; from the content (the default
    init) or noise it stays the long schedule, and iterations given are kept either way."""
    from engine.optimizer.options import COLD_ITERATIONS, WARM_ITERATIONS

    assert WARM_ITERATIONS < COLD_ITERATIONS
    assert (StylizeOptions().init, StylizeOptions().iterations) == ("content", COLD_ITERATIONS)
    assert StylizeOptions(init="any").iterations == WARM_ITERATIONS
    assert StylizeOptions(init="noise").iterations == COLD_ITERATIONS
    assert StylizeOptions(init=np.zeros((4, 4, 3), np.float32)).iterations == COLD_ITERATIONS
    assert StylizeOptions(iterations=7).iterations == StylizeOptions(init="content", iterations=7).iterations == 7
