"""ONNX export of :class:`~sk_softmax.SoftmaxClassifier` through skl2onnx (extra ``onnx``).

Importing this module registers a converter, a shape calculator and skl2onnx's classifier
parser for ``SoftmaxClassifier``, after which ``skl2onnx.to_onnx`` converts the estimator
alone or inside a ``Pipeline`` (e.g. after a ``StandardScaler``)::

    import sk_softmax.onnx  # noqa: F401  (registers the converter)
    from skl2onnx import to_onnx

    onx = to_onnx(pipeline, X[:1].astype(np.float32))
    # options as for LogisticRegression, e.g. no ZipMap:
    onx = to_onnx(pipeline, X[:1].astype(np.float32),
                  options={SoftmaxClassifier: {"zipmap": False}})

The graph computes ``scores = X @ coef_.T + intercept_`` (``MatMul``, ``Add``) in the input's
dtype (float32 or float64), the probabilities with ``Softmax`` (the binary model as a
softmax over ``[0, score]``, which is the sigmoid), and the label with ``ArgMax`` and the
class list.  Outputs, as for ``LogisticRegression``: ``label`` (int64 or string) and
``probabilities`` (a list of dicts through ``ZipMap`` by default; a tensor with
``zipmap=False``; one column per class with ``zipmap="columns"``).  ONNX's ``ZipMap`` takes
float32 only, so with float64 input and the default ``zipmap=True`` the probabilities are
rounded to float32 for it (skl2onnx's ``LogisticRegression`` converter builds an invalid
graph there); ``zipmap=False`` keeps them in float64.

Sparse input is not supported by the graph (ONNX has no sparse tensor input in skl2onnx):
``to_onnx`` with a scipy sparse matrix raises skl2onnx's error; convert with a dense
sample (``X[:1].toarray()``) and feed dense rows to the runtime.
"""

import numbers

import numpy as np
import scipy.sparse as sp

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DictionaryType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        SequenceType,
        StringTensorType,
    )
    from skl2onnx.common.utils_classifier import get_label_classes
except ImportError as exc:  # the optional extra is missing
    raise ImportError(
        "sk_softmax.onnx needs skl2onnx and onnx: pip install 'sk_softmax[onnx]' "
        f"(or pip install skl2onnx onnx onnxruntime). ({exc})"
    ) from exc

from ._classifier import SoftmaxClassifier

__all__ = [
    "calculate_softmax_classifier_output_shapes",
    "convert_softmax_classifier",
    "parse_softmax_classifier",
]

_ALIAS = "SkSoftmaxClassifier"


def _labels(classes):
    """Class labels as ONNX stores them: strings, or int64 for integer-valued labels."""
    classes = np.asarray(classes)
    if all(isinstance(c, str) for c in classes):
        return np.array([c.encode("utf-8") for c in classes], dtype=object), TensorProto.STRING
    if all(isinstance(c, (numbers.Real, bool, np.bool_)) for c in classes):
        as_int = classes.astype(np.int64)
        if not np.array_equal(as_int, classes):
            raise ValueError(
                "ONNX labels are int64 or strings; the classes "
                f"{list(classes)!r} are not integer-valued. Fit with integer or string "
                "labels to export the model."
            )
        return as_int, TensorProto.INT64
    raise ValueError(f"Cannot store the classes {list(classes)!r} as ONNX labels.")


def convert_softmax_classifier(scope, operator, container):
    """skl2onnx converter: ``MatMul`` + ``Add`` -> ``Softmax``; ``ArgMax`` -> label.

    Parameters
    ----------
    scope, operator, container : skl2onnx's conversion objects
        ``operator.raw_operator`` is the fitted ``SoftmaxClassifier``; ``operator.inputs``
        holds one tensor of shape (n_samples, n_features), ``operator.outputs`` the label
        and probability tensors declared by skl2onnx's classifier parser.
    """
    model = operator.raw_operator
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    dtype = np.float64 if double else np.float32
    proto = TensorProto.DOUBLE if double else TensorProto.FLOAT
    coef = model.coef_.toarray() if sp.issparse(model.coef_) else np.asarray(model.coef_)
    W = np.asarray(coef, dtype=dtype)
    b = np.asarray(model.intercept_, dtype=dtype)
    if W.shape[0] == 1:  # binary: softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]
        W = np.vstack([np.zeros_like(W), W])
        b = np.concatenate([np.zeros(1, dtype=dtype), b])

    coef_name = scope.get_unique_variable_name("coef")
    container.add_initializer(coef_name, proto, list(W.T.shape), W.T.ravel().tolist())
    intercept_name = scope.get_unique_variable_name("intercept")
    container.add_initializer(intercept_name, proto, list(b.shape), b.tolist())
    product = scope.get_unique_variable_name("product")
    container.add_node(
        "MatMul",
        [operator.inputs[0].full_name, coef_name],
        product,
        name=scope.get_unique_operator_name("MatMul"),
    )
    scores = scope.get_unique_variable_name("scores")
    container.add_node(
        "Add", [product, intercept_name], scores, name=scope.get_unique_operator_name("Add")
    )
    if double and isinstance(operator.outputs[1].type, FloatTensorType):
        # for ZipMap, which takes float32 only (see the parser)
        proba = scope.get_unique_variable_name("proba64")
        container.add_node(
            "Softmax", scores, proba, axis=1, name=scope.get_unique_operator_name("Softmax")
        )
        container.add_node(
            "Cast",
            proba,
            operator.outputs[1].full_name,
            to=TensorProto.FLOAT,
            name=scope.get_unique_operator_name("Cast"),
        )
    else:
        container.add_node(
            "Softmax",
            scores,
            operator.outputs[1].full_name,
            axis=1,
            name=scope.get_unique_operator_name("Softmax"),
        )

    index = scope.get_unique_variable_name("index")
    container.add_node(
        "ArgMax", scores, index, axis=1, keepdims=0, name=scope.get_unique_operator_name("ArgMax")
    )
    labels, label_proto = _labels(get_label_classes(scope, model))
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(classes_name, label_proto, list(labels.shape), labels.tolist())
    picked = scope.get_unique_variable_name("picked")
    container.add_node(
        "ArrayFeatureExtractor",
        [classes_name, index],
        picked,
        op_domain="ai.onnx.ml",
        name=scope.get_unique_operator_name("ArrayFeatureExtractor"),
    )
    shape_name = scope.get_unique_variable_name("shape")
    container.add_initializer(shape_name, TensorProto.INT64, [1], [-1])
    container.add_node(
        "Reshape",
        [picked, shape_name],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Reshape"),
    )


def calculate_softmax_classifier_output_shapes(operator):
    """skl2onnx shape calculator: ``label`` of shape (N,), ``probabilities`` (N, n_classes).

    The element types are set by :func:`parse_softmax_classifier`.
    """
    if len(operator.inputs) != 1 or not isinstance(
        operator.inputs[0].type, (FloatTensorType, DoubleTensorType)
    ):
        raise TypeError(
            "SoftmaxClassifier converts for one float32 or float64 tensor input, got "
            f"{[type(i.type).__name__ for i in operator.inputs]}."
        )
    N = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type.shape = [N]
    operator.outputs[1].type.shape = [N, len(operator.raw_operator.classes_)]


def parse_softmax_classifier(scope, model, inputs, custom_parsers=None):
    """skl2onnx parser: the classifier's ``label`` and ``probabilities``, then the ZipMap
    that the ``zipmap`` option asks for (as skl2onnx's classifier parser does), except that
    the probabilities reach ``ZipMap`` as float32, the only type it takes."""
    options = scope.get_options(model, dict(zipmap=True))
    zipmap = options["zipmap"]
    labels, label_proto = _labels(get_label_classes(scope, model))
    label_type = StringTensorType if label_proto == TensorProto.STRING else Int64TensorType
    double = isinstance(inputs[0].type, DoubleTensorType)
    proba_type = DoubleTensorType if double and zipmap in (False, "columns") else FloatTensorType
    operator = scope.declare_local_operator(_ALIAS, model)
    operator.inputs = list(inputs)
    operator.outputs.append(scope.declare_local_variable("label", label_type()))
    operator.outputs.append(scope.declare_local_variable("probabilities", proba_type()))
    if zipmap is False:
        return operator.outputs
    zip_op = scope.declare_local_operator(
        "SklearnZipMapColumns" if zipmap == "columns" else "SklearnZipMap"
    )
    zip_op.inputs = operator.outputs
    if label_proto == TensorProto.STRING:
        zip_op.classlabels_strings = labels
    else:
        zip_op.classlabels_int64s = [int(c) for c in labels]
    zip_op.outputs.append(scope.declare_local_variable("output_label", label_type([None])))
    if zipmap == "columns":
        for name in get_label_classes(scope, model, node_names=True):
            zip_op.outputs.append(scope.declare_local_variable(str(name), proba_type()))
    else:
        zip_op.outputs.append(
            scope.declare_local_variable(
                "output_probability",
                SequenceType(DictionaryType(label_type([]), FloatTensorType([]))),
            )
        )
    return zip_op.outputs


update_registered_converter(
    SoftmaxClassifier,
    _ALIAS,
    calculate_softmax_classifier_output_shapes,
    convert_softmax_classifier,
    parser=parse_softmax_classifier,
    options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
)
