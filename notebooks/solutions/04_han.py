"""Solutions to notebook 04's exercises (no data needed)."""

import dataclasses

import numpy as np
from keras import ops

from helpers.configs import HAN_CONFIGS
from helpers.layers import masked_softmax
from helpers.models import attention_model, build_han

ids = np.zeros((1, 15, 50), dtype="int32")  # one review: two short sentences, then padding
ids[0, 0, :2] = [20, 21]
ids[0, 1, :5] = [30, 31, 32, 33, 34]

# 1. Without masks, the attention weighs every position: the padded words get most of the
# weight (48 of 50 positions in sentence 1), and the 13 empty sentences take a share of
# the review's. Masks are computed from the ids and have no weights, so the count stays.
masked = build_han(HAN_CONFIGS["original"])
unmasked = build_han(dataclasses.replace(HAN_CONFIGS["original"], mask=False))
unmasked.set_weights(masked.get_weights())
weights = attention_model(unmasked).predict(ids, verbose=0)
on_padding = weights["word_weights"][0, 0, 2:].sum()
print(f"1. weights {unmasked.count_params():,}; on sentence 1's padding: {on_padding:.2f}")
assert unmasked.count_params() == masked.count_params() == 942_102 and on_padding > 0.5

# 2. A bigger context vector. Each attention layer has W (200 × context_dim), b and u_w
# (context_dim each): going from 100 to 200 adds 100 × 200 + 100 + 100 = 20,200 per layer,
# and there are two (words, sentences).
bigger = build_han(dataclasses.replace(HAN_CONFIGS["original"], context_dim=200))
print(f"2. context_dim=200: {bigger.count_params():,} weights (predicted {942_102 + 2 * 20_200:,})")
assert bigger.count_params() == 942_102 + 2 * 20_200

# 3. The softmax trap: softmax first, mask after. The padded positions' share is simply
# lost, so the real words' weights no longer sum to one. In the second row the padding
# had the largest scores, and the real words are left with almost nothing.
scores = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 30.0, 40.0]], dtype="float32")
mask = np.array([[True, True, True, True], [True, True, False, False]])
trap = ops.convert_to_numpy(ops.softmax(scores) * mask).sum(axis=1)
right = ops.convert_to_numpy(masked_softmax(scores, mask)).sum(axis=1)
print(f"3. real weights sum to {trap.round(6)} with the 2017 softmax, {right} with the masked one")
assert trap[1] < 1e-6 and np.allclose(right, 1.0)
