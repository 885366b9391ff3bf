"""helpers.evaluate's plots: scikit-learn's displays with the series' labels."""

import matplotlib
import numpy as np

from helpers import evaluate

matplotlib.use("Agg")


def test_plots_label_the_curves_and_the_cells():
    import matplotlib.pyplot as plt

    labels = np.array([0, 0, 1, 1, 1])
    _, (roc, cells) = plt.subplots(1, 2)
    evaluate.plot_roc({"a": (labels, [0.1, 0.7, 0.8, 0.4, 0.9]), "b": (labels, labels)}, ax=roc)
    legend = [text.get_text() for text in roc.get_legend().get_texts()]
    assert legend[0].startswith("a (AUC = 0.83") and legend[1].startswith("b (AUC = 1.0")
    assert any("chance" in entry.lower() for entry in legend)
    evaluate.plot_confusion([[1, 1], [1, 1200]], ax=cells, title="LSTM")
    assert {text.get_text() for text in cells.texts} == {"1", "1,200"}
    assert (cells.get_xlabel(), cells.get_ylabel()) == ("predicted", "true")
    assert cells.get_title() == "LSTM"
    plt.close("all")
