"""Multinomial SGD vs scikit-learn's SGDClassifier(loss="log_loss") on MNIST.

SGDClassifier trains one-vs-rest binary models (one per class); SoftmaxClassifier(solver=
"sgd") trains the softmax model with minibatches.  Both use default parameters except the
solver and the number of epochs.  Reported, measured in one run on the same data (MNIST
/255, float64):

* the wall time of one epoch (``fit`` with ``max_iter=1, tol=None``; best of 3), which
  includes each estimator's one-time setup (validation; for ours also the step-size
  estimate, one read of X), and the marginal time of an epoch,
  ``(t(max_iter=5) - t(max_iter=1)) / 4``, with their ratios;
* test accuracy after 5 epochs with default parameters and ``tol=None``;
* test accuracy after every epoch (``partial_fit``, one epoch per call), vs epochs and vs
  wall time (the time of the ``partial_fit`` calls only), as a PNG.

Usage::

    python benchmarks/sgd_mnist.py [--data-dir DIR] [--quick] [--epochs 10]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    best_fit_time,
    finish,
    load_data,
    machine_description,
    markdown_table,
    output_dir,
    progress,
    save_figure,
)


def one_epoch_time(make, X, y, repeats):
    return best_fit_time(make, X, y, repeats)[0]


def curve(make, X, y, Xt, yt, epochs):
    """(cumulative partial_fit seconds, test accuracy) after every epoch."""
    est = make()
    classes = np.unique(y)
    times, accs, elapsed = [], [], 0.0
    for _ in range(epochs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.partial_fit(X, y, classes=classes)
            elapsed += time.perf_counter() - t0
        times.append(elapsed)
        accs.append(est.score(Xt, yt))
    return np.array(times), np.array(accs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 rows, 1 repeat, 5 epochs")
    parser.add_argument("--epochs", type=int, default=None, help="epochs in the curves (10)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    epochs = args.epochs or (5 if args.quick else 10)

    from sklearn.linear_model import SGDClassifier

    from sk_softmax import SoftmaxClassifier

    X, y, Xt, yt, desc = load_data(args.data_dir, args.quick)
    SoftmaxClassifier(solver="sgd", max_iter=1, tol=None).fit(X[:500], y[:500])  # compile

    def ours(**kw):
        return SoftmaxClassifier(solver="sgd", random_state=0, **kw)

    def theirs(**kw):
        return SGDClassifier(loss="log_loss", random_state=0, **kw)

    t_ours = one_epoch_time(lambda: ours(max_iter=1, tol=None), X, y, repeats)
    t_sk = one_epoch_time(lambda: theirs(max_iter=1, tol=None), X, y, repeats)
    m_ours = (one_epoch_time(lambda: ours(max_iter=5, tol=None), X, y, repeats) - t_ours) / 4
    m_sk = (one_epoch_time(lambda: theirs(max_iter=5, tol=None), X, y, repeats) - t_sk) / 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc_ours = ours(max_iter=5, tol=None).fit(X, y).score(Xt, yt)
        acc_sk = theirs(max_iter=5, tol=None).fit(X, y).score(Xt, yt)
    curves = {}
    for name, make in progress(
        [("SoftmaxClassifier(sgd)", ours), ("SGDClassifier(log_loss)", theirs)], desc="curves"
    ):
        curves[name] = curve(make, X, y, Xt, yt, epochs)
    rows = [
        [
            "SoftmaxClassifier(solver='sgd')",
            f"{t_ours:.3f}",
            f"{t_ours / t_sk:.3f}",
            f"{m_ours:.3f}",
            f"{m_ours / m_sk:.3f}",
            f"{acc_ours:.4f}",
            f"{curves['SoftmaxClassifier(sgd)'][1][-1]:.4f}",
        ],
        [
            "SGDClassifier(loss='log_loss')",
            f"{t_sk:.3f}",
            "1.000",
            f"{m_sk:.3f}",
            "1.000",
            f"{acc_sk:.4f}",
            f"{curves['SGDClassifier(log_loss)'][1][-1]:.4f}",
        ],
    ]
    name = "sgd_mnist_quick" if args.quick else "sgd_mnist"
    png = plot(curves, output_dir(args) / f"{name}.png")
    text = "\n".join(
        [
            "# sgd_mnist: multinomial SGD vs SGDClassifier (one-vs-rest)",
            "",
            f"- data: {desc}: {X.shape[0]} x {X.shape[1]} train, {Xt.shape[0]} test; float64",
            f"- one epoch = fit(max_iter=1, tol=None), best of {repeats}; accuracy after 5 "
            f"epochs = fit(max_iter=5, tol=None), defaults otherwise; curves: {epochs} "
            "partial_fit calls",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(
                [
                    "estimator",
                    "fit, 1 epoch (s)",
                    "ratio",
                    "each further epoch (s)",
                    "ratio",
                    "test acc after 5 epochs",
                    f"test acc after {epochs} partial_fit",
                ],
                rows,
            ),
            "",
            f"![accuracy vs epoch and time]({png.name})",
        ]
    )
    finish(name, text, args, figures=[png])


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, (times, accs) in curves.items():
        epochs = np.arange(1, len(accs) + 1)
        a.plot(epochs, accs, "o-", label=name)
        b.plot(times, accs, "o-", label=name)
    a.set_xlabel("epoch")
    b.set_xlabel("wall time of the partial_fit calls (s)")
    for ax in (a, b):
        ax.set_ylabel("test accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
