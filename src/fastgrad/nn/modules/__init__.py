"""``fastgrad.nn.modules``: PyTorch's ``torch.nn.modules`` layout over fastgrad's layers.

Scripts name layer classes by their PyTorch module path, e.g. ``nn.modules.linear.Linear``
in allow-lists for ``load`` or ``nn.modules.batchnorm._BatchNorm`` in ``isinstance``
checks.  Each submodule here (``activation``, ``batchnorm``, ``container``, ``conv``,
``dropout``, ``linear``, ``loss``, ``normalization``, ``pooling``, ``rnn``, ``sparse``,
``transformer``, ...) holds the fastgrad classes that PyTorch defines in its namesake; the
classes are the ones in ``fastgrad.nn`` (same objects).  A PyTorch class fastgrad lacks is
absent from its submodule too.
"""
import importlib.machinery
import sys
import types

from fastgrad import nn as _nn
from fastgrad.nn import conv as _conv, layers as _layers, loss as _loss

# submodule -> the classes PyTorch 2.13 defines there
_LAYOUT = {
    "activation": "Threshold ReLU RReLU Hardtanh ReLU6 Sigmoid Hardsigmoid Tanh SiLU Mish Hardswish "
                  "ELU CELU SELU GLU GELU Hardshrink LeakyReLU LogSigmoid Softplus Softshrink "
                  "MultiheadAttention PReLU Softsign Tanhshrink Softmin Softmax Softmax2d LogSoftmax",
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
    "batchnorm": "BatchNorm1d LazyBatchNorm1d BatchNorm2d LazyBatchNorm2d BatchNorm3d LazyBatchNorm3d "
                 "SyncBatchNorm",
    "channelshuffle": "ChannelShuffle",
    "container": "Sequential ModuleList ModuleDict ParameterList ParameterDict",
    "conv": "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d LazyConv2d "
            "LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d",
    "distance": "PairwiseDistance CosineSimilarity",
    "dropout": "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "instancenorm": "InstanceNorm1d InstanceNorm2d InstanceNorm3d",
    "linear": "Identity Linear NonDynamicallyQuantizableLinear Bilinear LazyLinear",
    "loss": "L1Loss NLLLoss PoissonNLLLoss GaussianNLLLoss KLDivLoss MSELoss BCELoss BCEWithLogitsLoss "
            "HingeEmbeddingLoss MultiLabelMarginLoss SmoothL1Loss HuberLoss SoftMarginLoss "
            "CrossEntropyLoss MultiLabelSoftMarginLoss CosineEmbeddingLoss MarginRankingLoss "
            "MultiMarginLoss TripletMarginLoss TripletMarginWithDistanceLoss CTCLoss",
    "module": "Module",
    "normalization": "LocalResponseNorm LayerNorm GroupNorm RMSNorm",
    "padding": "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d ConstantPad3d "
               "ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d "
               "ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "pooling": "MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d AvgPool1d AvgPool2d "
               "AvgPool3d FractionalMaxPool2d FractionalMaxPool3d LPPool1d LPPool2d LPPool3d "
               "AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d AdaptiveAvgPool1d "
               "AdaptiveAvgPool2d AdaptiveAvgPool3d",
    "rnn": "RNNBase RNN LSTM GRU RNNCellBase RNNCell LSTMCell GRUCell",
    "sparse": "Embedding EmbeddingBag",
    "transformer": "Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer "
                   "TransformerDecoderLayer",
    "upsampling": "Upsample UpsamplingNearest2d UpsamplingBilinear2d",
}

# PyTorch's private base classes that scripts test with isinstance
_BASES = {
    "batchnorm": {"_BatchNorm": getattr(_layers, "_BatchNorm", None)},
    "conv": {"_ConvNd": getattr(_conv, "_ConvNd", None)},
    "pooling": {"_MaxPoolNd": getattr(_conv, "_MaxPoolNd", None),
                "_MaxUnpoolNd": getattr(_conv, "_MaxUnpoolNd", None)},
    "loss": {"_Loss": getattr(_loss, "_Loss", None)},
}
_NONDYNAMIC = "NonDynamicallyQuantizableLinear"

__all__ = []


def _build():
    from fastgrad.nn import transformer as _tr
    pkg = sys.modules[__name__]
    for sub, names in _LAYOUT.items():
        full = f"{__name__}.{sub}"
        m = types.ModuleType(full, f"fastgrad's classes that PyTorch defines in torch.nn.modules.{sub}.")
        m.__spec__ = importlib.machinery.ModuleSpec(full, None)
        m.__all__ = []
        for name in names.split():
            cls = getattr(_nn, name, None)
            if cls is None and name == _NONDYNAMIC:
                cls = getattr(_tr, name, None)
            if cls is not None:
                setattr(m, name, cls)
                m.__all__.append(name)
                setattr(pkg, name, cls)
                __all__.append(name)
        for name, cls in _BASES.get(sub, {}).items():
            if cls is not None:
                setattr(m, name, cls)
        sys.modules[full] = m
        setattr(pkg, sub, m)


_build()
