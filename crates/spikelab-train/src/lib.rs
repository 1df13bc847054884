//! Tensors and layers with forward/backward, surrogate gradients, losses, optimizers, training loops, ANN→SNN conversion.
