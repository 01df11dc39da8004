import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metrics import (
    betti_numbers,
    blob_f1,
    cldice,
    dice,
    instances,
    match_blobs,
    match_instances,
    panoptic_quality,
)

masks = arrays(bool, (5, 6, 7), elements=st.booleans())
axes = st.lists(st.integers(0, 2), unique=True, min_size=1, max_size=3)
fast = settings(max_examples=40, deadline=None)


@fast
@given(masks, masks)
def test_bounds_and_dice_symmetry(r, p):
    for value in (dice(r, p), cldice(r, p), blob_f1(r, p), panoptic_quality(r, p)):
        assert 0.0 <= value <= 1.0
    assert dice(r, p) == dice(p, r)


@fast
@given(masks, masks, axes)
def test_flip_invariance(r, p, flip):
    fr, fp = np.flip(r, axis=flip), np.flip(p, axis=flip)
    assert dice(fr, fp) == dice(r, p)
    assert betti_numbers(fr) == betti_numbers(r)
    # Optimal matching maximises the count of pairs, which no relabelling order can change;
    # above IoU 0.5 each instance has at most one candidate, so greedy is order-free too.
    optimal = match_blobs(r, p, matching="hungarian").tp
    assert match_blobs(fr, fp, matching="hungarian").tp == optimal
    assert blob_f1(fr, fp, iou_threshold=0.51) == blob_f1(r, p, iou_threshold=0.51)


@fast
@given(masks, masks, st.randoms(use_true_random=False))
def test_relabelling_invariance(r, p, rnd):
    lr, nr = instances(r)
    lp, np_ = instances(p)
    perm_r = np.r_[0, rnd.sample(range(100, 100 + 3 * nr + 1), nr)] if nr else np.array([0])
    perm_p = np.r_[0, rnd.sample(range(7, 7 + 5 * np_ + 1), np_)] if np_ else np.array([0])
    a = match_instances(lr, lp, matching="hungarian")
    b = match_instances(perm_r[lr], perm_p[lp], matching="hungarian")
    assert (a.tp, a.fp, a.fn) == (b.tp, b.fp, b.fn)
    assert sorted(q.iou for q in a.pairs) == sorted(q.iou for q in b.pairs)


@fast
@given(masks)
def test_betti_euler_relation(m):
    from skimage.measure import euler_number

    b0, b1, b2 = betti_numbers(m)
    assert min(b0, b1, b2) >= 0
    assert b0 - b1 + b2 == euler_number(m, connectivity=3)
