"""Solutions to notebook 05's exercises (no data needed)."""

import keras
import numpy as np

from helpers import fast

ids = np.zeros((3, 4, 6), dtype="int32")  # the notebook's 3-review batch
ids[0, 0, :5], ids[0, 1, :2] = [5, 6, 7, 8, 9], [10, 11]
ids[1, 0, :3] = [12, 13, 14]
ids[2, 0, :1], ids[2, 1, :4], ids[2, 2, :2] = [15], [16, 17, 18, 19], [20, 21]

# 1. 17 words in 3 × 4 × 6 = 72 positions: 76% padding. Packed into lanes of 5 (the
# longest sentence), the 17 words fill 4 lanes, 20 positions: 15% padding.
words = int((ids != 0).sum())
packed = fast.pack_sentences(fast.trim_padding(ids, step=(1, 1)))
before, after = 1 - words / ids.size, 1 - words / packed.words.size
print(f"1. padding: {before:.0%} of the grid, {after:.0%} of the packed lanes")
assert (words, ids.size, packed.words.size) == (17, 72, 20)

# 2. A left-padded row: the length-aware layer takes the mask's count as the length and
# reads the first positions, which are padding here, so it is not the masked layer.
rows = np.random.default_rng(0).normal(size=(1, 5, 3)).astype("float32")
mask = np.array([[False, False, True, True, True]])
gru = keras.layers.GRU(4, return_sequences=True)
masked, length_aware = keras.layers.Bidirectional(gru), fast.LengthAwareBidirectional(gru)
masked.build(rows.shape)
length_aware.build(rows.shape)
length_aware.set_weights(masked.get_weights())
gap = np.abs(keras.ops.convert_to_numpy(masked(rows, mask=mask) - length_aware(rows, mask=mask)))
print(f"2. left padding: largest difference {gap.max():.2f} (right padding: 0)")
assert gap.max() > 1e-3

# 3. On JAX lanes are rounded up to a multiple of 8: the batch's 4 lanes become 8, full
# width. Shapes repeat from batch to batch, so JAX compiles few programs.
inputs, _ = fast.PackedBatches(ids, np.arange(3), 3, step=(8, 6), lane_multiple=8)[0]
print(f"3. lanes on JAX: {inputs['words'].shape}")
assert inputs["words"].shape == (8, 6)
