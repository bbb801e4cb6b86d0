"""Pure forward/backward pairs: ``out, cache = op_forward(...)``; ``grads = op_backward(dout, cache)``."""
