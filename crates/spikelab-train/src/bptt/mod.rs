//! Surrogate-gradient training by backpropagation through time (the job of snnTorch
//! and SpikingJelly): losses ([`loss`]),
//! optimizers and schedules ([`optim`]), input encodings ([`encode`]), the training
//! loop and evaluation ([`trainer`]), evaluation of a saved model in the trainer and
//! on the engine ([`evaluation`]), training sessions in an output directory with
//! their resume/checkpoint policy ([`session`]), and model and checkpoint files ([`io`]).

pub mod encode;
pub mod eprop;
pub mod evaluation;
pub mod io;
pub mod loss;
pub mod optim;
pub mod options;
pub mod session;
pub mod trainer;
