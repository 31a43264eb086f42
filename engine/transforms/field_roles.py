"""Which image-like fields are label maps, when the dataset does not say ``mask_fields``.

Seed-style datasets name their masks whatever they like (``gt_semantic_seg``, ``label``)
and list them in ``img_fields`` next to the image; the seed then resampled them like
the image (linearly, inventing labels between classes) unless the dataset asked for
``INTER_NEAREST``. A mask resampled linearly, normalised or colour-jittered silently
corrupts training, so a field is taken for a mask when the sample says so in the two
ways such projects do (see :func:`inferred_mask_keys`); everything else stays an image.

Transforms that resample take ``interpolation`` as a name, a list of names, or a dict
``{field: name}``; a dict is written into ``results['interpolation']`` (the dataset's
own entries win, as in the seed), which is where later transforms and the mask rule
read it.
"""
import cv2
import numpy as np

__all__ = ["NEAREST", "is_nearest", "is_label_map", "inferred_mask_keys", "interpolation_arg",
           "take_interpolation"]

NEAREST = {"INTER_NEAREST", "INTER_NEAREST_EXACT", cv2.INTER_NEAREST,
           getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)}


def is_nearest(name) -> bool:
    name = name.upper() if isinstance(name, str) else name
    return not isinstance(name, bool) and name in NEAREST


def is_label_map(value) -> bool:
    """One channel of integers (or bools): what a class / instance map looks like, and
    what a photo or a float target never does."""
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, np.dtype):
        integer = dtype.kind in "biu"
    else:  # a torch tensor after ToTensor
        integer = hasattr(value, "is_floating_point") and not value.is_floating_point()
    shape = np.shape(value)
    return integer and (len(shape) == 2 or (len(shape) == 3 and shape[2] == 1))


def inferred_mask_keys(results: dict) -> list:
    """The ``img_fields`` keys that are masks though not in ``mask_fields``:

    - ``mask`` itself;
    - a key whose ``results['interpolation']`` entry is nearest neighbour, unless it is
      listed in ``color_fields`` (an image someone wants resampled blockily);
    - with ``color_fields`` given, a key left out of it that holds a label map (one
      channel of integers) and has no interpolation of its own. ``img`` is never
      inferred: it is the image even when colour augmentation is switched off.
    """
    img_fields = results.get("img_fields") or ()
    if not img_fields:
        return []
    listed_colors = results.get("color_fields")
    colors = set(listed_colors or ())
    given = results.get("interpolation")
    given = given if isinstance(given, dict) else {}
    keys = []
    for key in img_fields:
        if key == "mask":
            keys.append(key)
        elif key in colors:
            continue
        elif key in given and given[key] is not None:
            if is_nearest(given[key]):
                keys.append(key)
        elif listed_colors is not None and key != "img" and is_label_map(results.get(key)):
            keys.append(key)
    return keys


def interpolation_arg(owner: str, spec, single: bool = False) -> list:
    """A transform's ``interpolation`` argument, checked: the cv2 flags to draw from, or
    one dict ``{field: name, ..., 'default': flag}`` for :func:`take_interpolation`
    (fields without an entry use ``'default'``, else ``INTER_LINEAR``). ``single``: the
    transform cannot draw one per sample, so a list is refused."""
    from engine.utils.errors import ConfigError

    from .functional import interpolation_flag

    per_key = {k: v for k, v in spec.items() if k != "default"} if isinstance(spec, dict) else {}
    names = [spec.get("default", "INTER_LINEAR")] if isinstance(spec, dict) else (
        list(spec) if isinstance(spec, (list, tuple)) else [spec])
    if not names or (single and len(names) > 1):
        wanted = "one cv2 name" if single else "a cv2 name, a list of them"
        raise ConfigError(f"{owner}: interpolation must be {wanted} or a {{field: name}} "
                          f"dict, got {spec!r}")
    try:
        flags = [interpolation_flag(n) for n in names]
        for name in per_key.values():
            interpolation_flag(name)
    except ValueError as e:
        raise ConfigError(f"{owner}: interpolation: {e}") from None
    return [dict(per_key, default=flags[0])] if per_key else flags


def take_interpolation(results: dict, flag) -> int:
    """The default flag of ``flag`` (an int, or a dict from :func:`interpolation_arg`),
    after adding a dict's ``{field: name}`` entries to ``results['interpolation']`` (a
    new dict, as the dataset's may be shared between samples; its own entries win)."""
    if not isinstance(flag, dict):
        return flag
    given = results.get("interpolation")
    per_key = {k: v for k, v in flag.items() if k != "default"}
    results["interpolation"] = {**per_key, **(given if isinstance(given, dict) else {})}
    return flag["default"]
