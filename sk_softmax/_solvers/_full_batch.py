"""The full-batch solve: the solver the penalty calls for, over the precision stages."""

from .._penalty import GroupElasticNet
from ._group import minimize_group
from ._l1 import minimize_l1
from ._lbfgs import minimize_lbfgs

__all__ = ["minimize_full_batch"]


def minimize_full_batch(stages, coef0, **options):
    """Minimise the objective of ``stages.final`` from ``coef0``.

    With a group-L1 term (:class:`~sk_softmax._penalty.GroupElasticNet`):
    :func:`~sk_softmax._solvers._group.minimize_group`.  With an L1 term:
    :func:`~sk_softmax._solvers._l1.minimize_l1` (L-BFGS-B on split
    weights, then OWL-QN), in ``stages.final``'s precision only; else L-BFGS
    (:func:`~sk_softmax._solvers._lbfgs.minimize_lbfgs`), with its float32 stage first
    when ``stages.float32`` is given, preconditioned by the loss's
    :meth:`curvature_kronecker` (without bounds) or :meth:`curvature_diagonal`.  Both
    keep the penalty's box (bounds on the weights: the L1 solver reads it from the
    penalty, L-BFGS gets it as its bounds).

    Parameters
    ----------
    stages : PrecisionStages
        From :func:`sk_softmax._precision.precision_stages` (or ``PrecisionStages(loss)``
        for a loss without stages, such as the dask backend's).
    coef0 : ndarray of shape (n_params,)
    **options
        The solvers' common keywords: ``max_iter``, ``tol``, ``verbose``, ``callback``.

    Returns
    -------
    coef : ndarray of shape (n_params,)
    n_iter : int
    result : scipy.optimize.OptimizeResult or L1Result
    """
    loss = stages.final
    if loss.penalty.has_l1 and isinstance(loss.penalty, GroupElasticNet):
        # a group-L1 term: proximal gradient, then L-BFGS on the support (float64)
        return minimize_group(loss, coef0, **options)
    if loss.penalty.has_l1:
        if stages.float32 is not None:
            raise ValueError("the L1 solver has no float32 stage")
        return minimize_l1(loss, coef0, **options)
    bounds = loss.penalty.flat_bounds(loss.layout.penalty_mask)
    # the Kronecker preconditioner where the loss estimates it and there is no box, else
    # the diagonal (estimated only then: a bound method, called when needed)
    return minimize_lbfgs(
        loss,
        coef0,
        float32_loss=stages.float32,
        bounds=bounds,
        kronecker=loss.curvature_kronecker() if bounds is None else None,
        curvature=loss.curvature_diagonal,
        n_class_rows=loss.layout.K,
        **options,
    )
