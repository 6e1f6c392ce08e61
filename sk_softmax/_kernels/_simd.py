"""256-bit vectors of float32 or float64 for the dense kernels' products.

numba's loop vectoriser keeps a product's running sums in memory (one load and one store
per multiply-add) and does not form vectors from scalar running sums, so a register-blocked
product, the way BLAS micro-kernels run, cannot be written with scalars.  These intrinsics
give the kernels a vector type held in registers (LLVM's ``<4 x double>`` /
``<8 x float>``) and its few operations: load, store, broadcast, zero, multiply-add, one
lane.  Each is one LLVM instruction, inlined where it is called.

The multiply-add is LLVM's ``fmuladd``: one fused operation (one rounding) where the CPU
has FMA, a multiply and an add where it does not (a fused multiply-add in software would
cost a library call per lane).  Results therefore agree bit for bit between machines with
FMA (every x86_64 CPU since Intel Haswell and AMD Piledriver) and within rounding
elsewhere; they never depend on the number of threads.

Loads and stores take a 1-D C-contiguous array and a start index ``i`` and touch
``a[i:i + lanes]``; a kernel compiled with numba's bounds checking (``boundscheck=True``
or ``NUMBA_BOUNDSCHECK=1``) checks both ends, as numba checks its own indexing.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.datamodel import models
from numba.core.errors import TypingError
from numba.extending import intrinsic, register_model

from ._buffers import vector_lanes

__all__ = ["lanes", "vfma", "vlane", "vload", "vsplat", "vstore", "vzero"]


class SimdVector(types.Type):
    """A vector of ``lanes`` values of ``dtype`` (a numba float type)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = vector_lanes(dtype.bitwidth // 8)
        super().__init__(name=f"SimdVector({dtype} x {self.lanes})")


@register_model(SimdVector)
class _SimdVectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        scalar = ir.DoubleType() if fe_type.dtype == types.float64 else ir.FloatType()
        super().__init__(dmm, fe_type, ir.VectorType(scalar, fe_type.lanes))


_FLOATS = (types.float32, types.float64)


def _vector_of_array(arr, what):
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"):
        raise TypingError(f"{what}: a 1-D C-contiguous array is required, got {arr}")
    if arr.dtype not in _FLOATS:
        raise TypingError(f"{what}: float32 or float64 required, got {arr.dtype}")
    return SimdVector(arr.dtype)


def _pointer(context, builder, arrty, arr, index, vtype):
    """Pointer to ``arr[index]`` as a pointer to ``vtype``, after the bounds check."""
    ary = context.make_array(arrty)(context, builder, arr)
    index = context.cast(builder, index[1], index[0], types.intp)
    if context.enable_boundscheck:
        length = builder.extract_value(ary.shape, 0)
        last = builder.add(index, ir.Constant(index.type, vtype.lanes - 1))
        cgutils.do_boundscheck(context, builder, index, length, 0)
        cgutils.do_boundscheck(context, builder, last, length, 0)
    ptr = builder.gep(ary.data, [index])
    return builder.bitcast(ptr, context.get_value_type(vtype).as_pointer())


@intrinsic
def vload(typingctx, arr, index):
    """``arr[index:index + lanes]`` as a vector."""
    vtype = _vector_of_array(arr, "vload")

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, arr, args[0], (index, args[1]), vtype)
        return builder.load(ptr, align=arr.dtype.bitwidth // 8)

    return vtype(arr, index), codegen


@intrinsic
def vstore(typingctx, arr, index, vec):
    """``arr[index:index + lanes] = vec``."""
    vtype = _vector_of_array(arr, "vstore")
    if vec != vtype:
        raise TypingError(f"vstore: {vec} does not match {arr}")

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, arr, args[0], (index, args[1]), vtype)
        builder.store(args[2], ptr, align=arr.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(arr, index, vec), codegen


@intrinsic
def vzero(typingctx, like):
    """A vector of zeros of the dtype of the array ``like``."""
    vtype = _vector_of_array(like, "vzero")

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vtype), None)

    return vtype(like), codegen


@intrinsic
def vsplat(typingctx, x):
    """A vector with every lane ``x`` (a float32 or float64 scalar)."""
    if x not in _FLOATS:
        raise TypingError(f"vsplat: float32 or float64 required, got {x}")
    vtype = SimdVector(x)

    def codegen(context, builder, sig, args):
        undef = ir.Constant(context.get_value_type(vtype), ir.Undefined)
        one = builder.insert_element(undef, args[0], ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), vtype.lanes), [0] * vtype.lanes)
        return builder.shuffle_vector(one, undef, mask)

    return vtype(x), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane (fused where the CPU has FMA)."""
    if not (isinstance(a, SimdVector) and a == b == c):
        raise TypingError(f"vfma: three vectors of one type required, got {a}, {b}, {c}")

    def codegen(context, builder, sig, args):
        ltype = context.get_value_type(a)
        name = f"llvm.fmuladd.v{a.lanes}f{a.dtype.bitwidth}"
        fnty = ir.FunctionType(ltype, [ltype] * 3)
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        return builder.call(fn, args)

    return a(a, b, c), codegen


@intrinsic
def vlane(typingctx, vec, lane):
    """Lane ``lane`` of ``vec`` (``0 <= lane < lanes``, not checked)."""
    if not isinstance(vec, SimdVector):
        raise TypingError(f"vlane: a vector required, got {vec}")

    def codegen(context, builder, sig, args):
        index = context.cast(builder, args[1], lane, types.int32)
        return builder.extract_element(args[0], index)

    return vec.dtype(vec, lane), codegen


@intrinsic
def lanes(typingctx, arr):
    """Lanes of a vector of the dtype of the array ``arr`` (a compile-time constant)."""
    if not (isinstance(arr, types.Array) and arr.dtype in _FLOATS):
        raise TypingError(f"lanes: a float32 or float64 array required, got {arr}")
    vtype = SimdVector(arr.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(64), vtype.lanes)

    return types.int64(arr), codegen
