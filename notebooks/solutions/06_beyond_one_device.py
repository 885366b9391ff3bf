"""Solutions to notebook 06's exercises, on TensorFlow with the CPU split into 4 devices."""

import math

import numpy as np
from _common import data_dir, small_split

from helpers import distribute

print(distribute.use_virtual_cpu_devices(4, "tensorflow"))  # before TensorFlow starts

from helpers.data import DataError  # noqa: E402 (after the devices are set)
from helpers.models import named_config  # noqa: E402
from helpers.train import fit_classifier  # noqa: E402

# 1. A global batch of 30 cannot be cut into 4 equal shares: the plan refuses it in one
# line, before anything is built or written. Multiples of 4 work.
try:
    distribute.plan_devices(4, 30)
    raise AssertionError("a batch of 30 on 4 devices was accepted")
except DataError as error:
    print(f"1. {error}")
    assert str(error).startswith("batch size 30 does not split evenly over 4 devices")
working = [size for size in range(24, 41) if size % 4 == 0]
assert distribute.plan_devices(4, 32).describe() == "4 devices via tf.distribute.MirroredStrategy"
print(f"1. global batches that work on 4 devices: {working}")
assert working == [24, 28, 32, 36, 40]

# 2. With dropout, each TensorFlow replica draws its own masks for its share of the
# batch: a different random draw from one device's, so the curves part (a little), though
# both runs are equally valid. Without dropout (the notebook) they agree to rounding.
train, _, _ = small_split(data_dir())
losses = {}
for devices in (1, 2):
    config = named_config("lstm", "tuned", units=8, embedding_dim=16, max_words=60,
                          num_words=2000, dropout=0.3, batch_size=40, epochs=2)  # fmt: skip
    _, run = fit_classifier(config, train["text"], train["label"], f"/tmp/06-{devices}",
                            word2vec=False, devices=devices, verbose=0)  # fmt: skip
    losses[devices] = run.history["loss"].to_numpy()
gap = float(np.max(np.abs(losses[1] - losses[2])))
print(f"2. dropout 0.3: largest difference between 1 and 2 devices {gap:.1e}")
assert gap > 1e-5

# 3. 16 reviews per device: a global batch of 32 on 2 devices, 128 on 8. Every batch must
# split evenly, so a few of the 1,332 reviews sit out (distribute.whole_batches); the
# linear scaling rule grows the learning rate with the global batch.
rows = np.arange(1332)
for devices in (2, 8):
    batch = 16 * devices
    with distribute.scope(distribute.Plan("tensorflow", devices=devices)):
        kept = len(distribute.whole_batches(rows, batch))
    steps, rate = math.ceil(kept / batch), 1e-3 * batch / 32
    print(f"3. {devices} devices: global batch {batch}, {kept} reviews, {steps} steps, "
          f"learning rate {rate:g}")  # fmt: skip
    assert (steps, rate) == ((41, 1e-3) if devices == 2 else (11, 4e-3))
