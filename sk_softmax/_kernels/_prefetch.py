"""A software prefetch hint for kernels whose reads the hardware does not foresee.

The dense logits' product (``_products``) reads a few rows of ``X`` at a time, each a
stream of a few kB, too short for the hardware prefetcher to ramp up on: it asks for the
next rows' cache lines while it works on the current ones.

The CSR kernels read (and, for the gradient, update) one row of a ``(n_features, K)``
table per stored entry, at columns given by ``indices``: random rows of a table of
several MB, so each entry waits for memory unless its row was requested earlier.  The
addresses of the next entries are known (``indices[p + distance]``), and asking for
them ahead of use (LLVM's ``llvm.prefetch``) overlaps those waits.  The distance of 8
entries was chosen on the text benchmark (docs/design.md has the measurements).

A prefetch is only a hint: it changes no value, so results stay bit-identical with
and without it.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["PREFETCH_DISTANCE", "prefetch"]

# Stored entries ahead at which rows are requested.
PREFETCH_DISTANCE = 8


@intrinsic
def prefetch(typingctx, arr, i, k):
    """Hint that ``arr[i, k]`` (a 2-D array) will be read soon; returns nothing."""
    if not (
        isinstance(arr, types.Array)
        and arr.ndim == 2
        and isinstance(i, types.Integer)
        and isinstance(k, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        aryty, ity, kty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        ii = context.cast(builder, args[1], ity, types.intp)
        kk = context.cast(builder, args[2], kty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [ii, kk])
        i8p = ir.IntType(8).as_pointer()
        # the intrinsic's mangled name follows LLVM's pointer model (opaque since 15/17)
        name = "llvm.prefetch.p0" if str(i8p) == "ptr" else "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        # read (0), high temporal locality (3), data cache (1)
        builder.call(
            fn,
            [
                builder.bitcast(ptr, i8p),
                ir.Constant(i32, 0),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return types.void(arr, i, k), codegen
