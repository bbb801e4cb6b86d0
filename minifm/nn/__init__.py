"""Stateful layers that own parameters and gradients (see ``minifm.nn.module`` for the contract)."""

from minifm.nn.module import Module, Parameter
from minifm.nn.losses import ContrastiveLoss, CrossEntropyLoss
from minifm.nn.activations import GELU, ReLU, Softmax
from minifm.nn.dropout import Dropout
from minifm.nn.embedding import Embedding, SinusoidalPositionalEncoding
from minifm.nn.layernorm import LayerNorm
from minifm.nn.linear import Linear
from minifm.nn.attention import KVCache, MultiHeadAttention
from minifm.nn.feedforward import FeedForward
from minifm.nn.transformer import TransformerBlock
