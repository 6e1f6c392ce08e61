"""Weak penalties on nearly separable data: where L-BFGS stops, with and without the
Kronecker preconditioner, against LogisticRegression.

At ``tol=1e-4`` every solver stops far above the optimum when the data can nearly be
separated and ``C`` is large: the gradient test is met while the objective still falls.
This measures how far (the relative gap to the optimum ``(f - f*) / f*``, ``f*`` from a
fit at ``tol=1e-9``), after how many iterations, with which test accuracy, on 4000 MNIST
rows (1000 held out for accuracy, as a fold of ``grid_search.py``) and on digits
(30 % held out), for ``SoftmaxClassifier`` as shipped, the same with the Kronecker
preconditioner turned off (``SoftmaxLoss.curvature_kronecker`` returning None: the
diagonal scaling where its rule asks for it, else none) and ``LogisticRegression``;
and the iterations each needs to reach ``tol=1e-8``.  Objectives are scikit-learn's
``LinearModelLoss`` on the training rows, for every model.

Usage::

    python benchmarks/weak_penalty.py [--data-dir DIR] [--save | --out DIR]
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
    finish,
    load_data,
    machine_description,
    markdown_table,
)

CS = (1.0, 10.0, 100.0, 1000.0)


def _objective(model, X, y, C):
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    K = model.classes_.shape[0]
    if K > 2:
        base, coef = HalfMultinomialLoss(n_classes=K), np.c_[model.coef_, model.intercept_]
    else:
        base, coef = HalfBinomialLoss(), np.r_[model.coef_.ravel(), model.intercept_]
    y_enc = np.searchsorted(model.classes_, y).astype(np.float64)
    loss = LinearModelLoss(base_loss=base, fit_intercept=True)
    return float(loss.loss(coef, X, y_enc, None, 1.0 / (C * X.shape[0])))


def _rows(name, Xtr, ytr, Xte, yte):
    from sklearn.linear_model import LogisticRegression

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss

    shipped = SoftmaxLoss.curvature_kronecker
    rows = []
    for C in CS:
        opt = SoftmaxClassifier(C=C, tol=1e-9, max_iter=50000).fit(Xtr, ytr)
        f_star = _objective(opt, Xtr, ytr, C)
        cells = [name, f"{C:g}", f"{f_star:.2e}", f"{opt.score(Xte, yte):.4f}"]
        tight = []
        for make in ("kronecker", "no kronecker", "LogisticRegression"):
            try:
                if make == "no kronecker":
                    SoftmaxLoss.curvature_kronecker = lambda self: None
                if make == "LogisticRegression":
                    model = LogisticRegression(C=C).fit(Xtr, ytr)
                    tight_model = LogisticRegression(C=C, tol=1e-8, max_iter=50000)
                else:
                    model = SoftmaxClassifier(C=C).fit(Xtr, ytr)
                    tight_model = SoftmaxClassifier(C=C, tol=1e-8, max_iter=50000)
                tight.append(int(np.max(tight_model.fit(Xtr, ytr).n_iter_)))
            finally:
                SoftmaxLoss.curvature_kronecker = shipped
            gap = (_objective(model, Xtr, ytr, C) - f_star) / f_star
            cells.append(f"{gap:.3f} / {int(np.max(model.n_iter_))} / {model.score(Xte, yte):.4f}")
        cells += [str(t) for t in tight]
        rows.append(cells)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    add_output_options(parser)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y, _, _, desc = load_data(args.data_dir)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarnings of the weakest penalties
        rows += _rows("MNIST 4000 rows", X[:4000], y[:4000], X[4000:5000], y[4000:5000])
        Xd, yd = load_digits(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(Xd, yd, test_size=0.3, random_state=0)
        rows += _rows("digits (raw)", Xtr, ytr, Xte, yte)
    header = [
        "data",
        "C",
        "f*",
        "accuracy at f*",
        "shipped: gap / iterations / accuracy",
        "no Kronecker",
        "LogisticRegression",
        "iterations to tol=1e-8: shipped",
        "no Kronecker",
        "LogisticRegression",
    ]
    text = "\n".join(
        [
            "# weak_penalty: where the fits stop at tol=1e-4 on nearly separable data",
            "",
            f"- data: {desc} (rows 0-3999 to fit, 4000-4999 to score); digits, 30 % held out",
            "- gap: (f - f*) / f* on the training rows, f* from SoftmaxClassifier at "
            "tol=1e-9; default tol=1e-4 and max_iter=100",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(header, rows),
        ]
    )
    finish("weak_penalty", text, args)


if __name__ == "__main__":
    main()
