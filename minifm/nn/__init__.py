"""Stateful layers that own parameters and gradients (see ``minifm.nn.module`` for the contract)."""

from minifm.nn.module import Module, Parameter
