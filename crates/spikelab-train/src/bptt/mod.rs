//! Surrogate-gradient training by backpropagation through time (the job of snnTorch
//! and SpikingJelly): losses ([`loss`]),
//! optimizers and schedules ([`optim`]), input encodings ([`encode`]), the training
//! loop and evaluation ([`trainer`]), and model and checkpoint files ([`io`]).

pub mod encode;
pub mod io;
pub mod loss;
pub mod optim;
pub mod trainer;
