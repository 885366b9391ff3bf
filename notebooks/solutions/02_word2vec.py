"""Solutions to notebook 02's exercises."""

import dataclasses

from _common import data_dir, small_split

from helpers import embeddings, text
from helpers.configs import LSTM_CONFIGS
from helpers.models import build_lstm

train_df, _, _ = small_split(data_dir(), n_train=600)
sentences = embeddings.word2vec_sentences(train_df["text"])


def vectors(**settings):
    settings = {"vector_size": 50, "min_count": 3, "epochs": 10, "seed": 42} | settings
    return embeddings.train_word2vec(sentences, progress=False, **settings)


# 1. The window. Ten words either side find words of the same topic (cup, brewed, tea,
# cocoa); two words either side look for words used in the same slot, which 600 reviews
# are too few to show: its list is mostly noise.
narrow, wide = vectors(window=2), vectors(window=10)
close = {name: [w for w, _ in embeddings.nearest_words(v, "coffee", n=8)]
         for name, v in (("window 2", narrow), ("window 10", wide))}  # fmt: skip
for name, words in close.items():
    print(f"1. {name}: {', '.join(words)}")
assert close["window 2"] != close["window 10"]

# 2. Smaller vectors. The embedding is num_words × vector_size: 6,000 × 50 = 300,000
# instead of 600,000. Each LSTM direction's input kernel shrinks from 100 × 400 to
# 50 × 400, 20,000 fewer per direction: 761,202 - 300,000 - 40,000 = 421,202.
small = build_lstm(dataclasses.replace(LSTM_CONFIGS["original"], embedding_dim=50))
print(f"2. embedding_dim=50: {small.count_params():,} weights (predicted 421,202)")
assert small.count_params() == 421_202

# 3. min_count=1: every word seen once gets a vector too, so every vocabulary word (the
# vocabulary comes from the same reviews) now starts from word2vec. But the words below
# the cut-off are rare: the min_count=3 words already cover about 91% of the training
# tokens, and a word seen once or twice has had one or two contexts to learn from, so
# its vector stays close to its random start.
encoder = text.TextEncoder.fit(train_df["text"], num_words=6000)
for min_count in (3, 1):
    found = vectors(min_count=min_count)
    _, coverage = embeddings.embedding_matrix(found, encoder.vocabulary, seed=42)
    print(f"3. min_count={min_count}: {len(found):,} words with a vector; {coverage}")
assert len(vectors(min_count=1)) > 1.5 * len(vectors(min_count=3))
