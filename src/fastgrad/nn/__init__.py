"""Neural-network building blocks with torch.nn's names: Module, Parameter, layers,
containers, losses, ``init`` and ``functional``."""
from fastgrad.nn import functional, init, utils
from fastgrad.nn.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from fastgrad.nn.layers import (ELU, GELU, SELU, BatchNorm1d, BatchNorm2d, Bilinear, Dropout,
                                Dropout1d, Dropout2d, Embedding, Flatten, GroupNorm, Hardsigmoid,
                                Hardswish, Hardtanh, Identity, LayerNorm, LeakyReLU, Linear,
                                LogSoftmax, Mish, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softplus,
                                Tanh, Unflatten)
from fastgrad.nn.layers import (CELU, CosineSimilarity, LogSigmoid, PairwiseDistance, RMSNorm,
                                Softmin, Softsign)
from fastgrad.nn.conv import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d,
                              Conv2d, ConvTranspose1d, ConvTranspose2d, GlobalAvgPool2d, MaxPool1d,
                              MaxPool2d, Upsample)
from fastgrad.nn.conv import (AvgPool3d, Conv3d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from fastgrad.nn.conv import ConvTranspose3d
from fastgrad.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss,
                              L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from fastgrad.nn.module import Module
from fastgrad.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from fastgrad.nn.parameter import Buffer, Parameter
from fastgrad.nn.transformer import (MultiheadAttention, Transformer, TransformerDecoder,
                                     TransformerDecoderLayer, TransformerEncoder,
                                     TransformerEncoderLayer)
from fastgrad.nn import parallel
from fastgrad.nn.layers import PixelShuffle, PixelUnshuffle
from fastgrad.nn.extra_layers import (GLU, PReLU, RReLU, Hardshrink, Softmax2d, Softshrink,
                                      Tanhshrink, Threshold)
from fastgrad.nn.extra_layers import (ChannelShuffle, CircularPad1d, CircularPad2d, CircularPad3d,
                                      ConstantPad1d, ConstantPad2d, ConstantPad3d, Fold,
                                      ReflectionPad1d,
                                      ReflectionPad2d, ReflectionPad3d, ReplicationPad1d,
                                      ReplicationPad2d, ReplicationPad3d, Unfold,
                                      UpsamplingBilinear2d, UpsamplingNearest2d, ZeroPad1d,
                                      ZeroPad2d, ZeroPad3d)
from fastgrad.nn.extra_layers import (AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                                      AdaptiveMaxPool3d, BatchNorm3d, InstanceNorm1d,
                                      InstanceNorm2d, InstanceNorm3d, LocalResponseNorm, LPPool1d,
                                      LPPool2d, LPPool3d)
from fastgrad.nn.extra_losses import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss,
                                      MarginRankingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss,
                                      PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss)
from fastgrad.nn.extra_dropout import AlphaDropout, Dropout3d, FeatureAlphaDropout

__all__ = ["functional", "init", "utils", "parallel", "Module", "Parameter", "Buffer", "Sequential", "ModuleList",
           "ModuleDict", "Linear", "Bilinear", "Embedding", "Dropout", "LayerNorm", "BatchNorm1d",
           "Flatten", "Unflatten", "Identity", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "GELU",
           "SiLU", "Softplus", "Softmax", "LogSoftmax", "ELU", "SELU", "Mish", "Hardswish",
           "Hardsigmoid", "Hardtanh", "ReLU6", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
           "BatchNorm2d", "GroupNorm", "Dropout1d", "Dropout2d", "Conv1d", "Conv2d", "ConvTranspose1d",
           "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "GlobalAvgPool2d", "Upsample", "ParameterList", "ParameterDict",
           "CELU", "CosineSimilarity", "LogSigmoid", "PairwiseDistance", "RMSNorm", "Softmin",
           "Softsign", "AvgPool3d", "Conv3d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d",
           "MaxUnpool3d", "ConvTranspose3d", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
           "RNNBase", "RNNCellBase",
           "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerDecoder", "Transformer",
           "PReLU", "GLU", "Hardshrink", "Softshrink", "Tanhshrink", "Threshold", "RReLU",
           "Softmax2d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
           "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
           "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Unfold", "Fold",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "BatchNorm3d", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AdaptiveAvgPool3d", "LPPool1d", "LPPool2d",
           "LPPool3d", "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
           "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "PoissonNLLLoss",
           "GaussianNLLLoss", "MultiMarginLoss", "AlphaDropout", "FeatureAlphaDropout", "Dropout3d"]

from fastgrad.nn import modules  # noqa: E402, F401
