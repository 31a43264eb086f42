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

:func:`layout` answers every role question of :mod:`engine.transforms.fields` at once
and caches the answer per results layout (the field lists, the default keys present,
the interpolation entries, and whether each undeclared field is a label map), because
every transform asks on every call: worked out afresh, the roles cost 5-13 us a call,
as much as flipping a 480x640 image (issue 23, doc/benchmarks.md).
"""
from typing import NamedTuple, Tuple

import cv2
import numpy as np

__all__ = ["NEAREST", "is_nearest", "is_label_map", "inferred_mask_keys", "interpolation_arg",
           "take_interpolation", "Layout", "layout", "check_listed"]

NEAREST = {"INTER_NEAREST", "INTER_NEAREST_EXACT", cv2.INTER_NEAREST,
           getattr(cv2, "INTER_NEAREST_EXACT", cv2.INTER_NEAREST)}


def is_nearest(name) -> bool:
    name = name.upper() if isinstance(name, str) else name
    return not isinstance(name, bool) and name in NEAREST


def is_label_map(value) -> bool:
    """One channel of integers (or bools): what a class / instance map looks like, and
    what a photo or a float target never does."""
    if type(value) is np.ndarray:  # the common case, first: this runs on every call
        shape = value.shape
        return value.dtype.kind in "biu" and (
            len(shape) == 2 or (len(shape) == 3 and shape[2] == 1))
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


class Layout(NamedTuple):
    """The keys of each image-like role (see :mod:`engine.transforms.fields`), and per list
    the keys it names (``listed``), which must be in the results dict."""

    masks: Tuple[str, ...]
    images: Tuple[str, ...]
    geometric: Tuple[Tuple[str, bool], ...]
    colors: Tuple[str, ...]
    listed: dict


_FIELDS = (("img_fields", "img"), ("mask_fields", "mask"), ("color_fields", "img"))
_PLANS = {}  # layout signature -> (label-map candidates, {candidate flags: Layout})


def _keys(results: dict, list_name: str, default_key: str) -> tuple:
    given = results.get(list_name)
    if given is not None:
        return tuple(given)
    return (default_key,) if default_key in results else ()


def _build(results: dict) -> Layout:
    """The roles, worked out (what :func:`layout` caches)."""
    img, msk, col = (_keys(results, n, d) for n, d in _FIELDS)
    masks = msk + tuple(k for k in inferred_mask_keys(results) if k not in msk)
    images = tuple(k for k in img if k not in masks)
    geometric = tuple((k, False) for k in images) + tuple((k, True) for k in masks)
    return Layout(masks, images, geometric, tuple(k for k in col if k not in masks),
                  {n: tuple(results[n]) for n, _ in _FIELDS if results.get(n) is not None})


def _candidates(results: dict) -> tuple:
    """The fields whose role :func:`inferred_mask_keys` decides by looking at the array."""
    listed_colors = results.get("color_fields")
    if listed_colors is None:
        return ()
    colors = set(listed_colors)
    given = results.get("interpolation")
    given = given if isinstance(given, dict) else {}
    return tuple(k for k in results.get("img_fields") or () if k not in ("mask", "img")
                 and k not in colors and given.get(k) is None)


def layout(results: dict) -> Layout:
    """The roles of ``results``' fields, cached per layout. Field lists are read as
    given; :func:`check_listed` says whether the keys they name are there."""
    get = results.get
    img, msk, col = get("img_fields"), get("mask_fields"), get("color_fields")
    interpolation = get("interpolation")
    try:
        plan = _PLANS.get((
            tuple(img) if img is not None else "img" in results,
            tuple(msk) if msk is not None else "mask" in results,
            tuple(col) if col is not None else "img" in results,
            tuple(interpolation.items()) if isinstance(interpolation, dict) else None))
    except TypeError:  # an unhashable entry: no caching
        return _build(results)
    if plan is None:
        return _plan(results)
    candidates, layouts = plan
    flags = tuple([is_label_map(get(k)) for k in candidates]) if candidates else ()
    found = layouts.get(flags)
    return found if found is not None else _plan(results)


def _plan(results: dict) -> Layout:
    """Work the layout out and cache it (:func:`layout` missed)."""
    get = results.get
    interpolation = get("interpolation")
    signature = tuple(tuple(get(n)) if get(n) is not None else d in results
                      for n, d in _FIELDS) + (
        tuple(interpolation.items()) if isinstance(interpolation, dict) else None,)
    if signature not in _PLANS and len(_PLANS) >= 256:
        _PLANS.clear()
    candidates, layouts = _PLANS.setdefault(signature, (_candidates(results), {}))
    found = layouts[tuple(is_label_map(get(k)) for k in candidates)] = _build(results)
    return found


def check_listed(results: dict, listed: dict, *list_names: str) -> None:
    """A ``KeyError`` naming the list and the key when a field list (``listed``: list
    name -> the keys it names, as in :attr:`Layout.listed`) names a key the results
    dict does not have."""
    for list_name in list_names:
        for key in listed.get(list_name, ()):
            if key not in results:
                raise KeyError(
                    f"results['{list_name}'] lists '{key}', but the results dict has no key "
                    f"'{key}' (keys: {sorted(results)}). Set the field lists to the keys you "
                    f"fill in your dataset's __getitem__."
                )


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
