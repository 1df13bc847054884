//! The simulator from Python: a model (TOML text, a model file, or a dict from
//! `spikelab.Network`) built into `spikelab_core::engine::Simulator`, run with the GIL
//! released in chunks of steps (Ctrl-C is honoured between chunks), results and state
//! as numpy arrays (copied once, O(spikes), no per-spike Python objects).

use crate::IntoPy;
use numpy::prelude::*;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_core::engine::Simulator as CoreSimulator;
use spikelab_core::network::NetworkSpec;
use spikelab_core::recording::{write_recordings, SpikeFileFormat};
use spikelab_core::source::SpikeGenerator;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A built network, ready to run (see `spikelab.Network` for the friendly front).
#[pyclass(module = "spikelab._native")]
pub struct Simulator {
    pub(crate) sim: CoreSimulator,
    pub(crate) spec: NetworkSpec,
}

impl Simulator {
    fn pop(&self, name: &str) -> PyResult<usize> {
        self.sim.population_index(name).py()
    }
    fn proj(&self, name: &str) -> PyResult<usize> {
        self.sim.projection_index(name).py()
    }
    /// Builds `spec` (validated) for `threads` (None: the model's own setting).
    pub(crate) fn build(
        py: Python<'_>,
        spec: NetworkSpec,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let threads = threads.unwrap_or(spec.simulation.threads);
        let sim = py
            .detach(|| CoreSimulator::build_with_threads(&spec, threads))
            .py()?;
        Ok(Simulator { sim, spec })
    }
}

fn parse(text: &str, source: &str) -> PyResult<NetworkSpec> {
    NetworkSpec::from_toml_str(text, Path::new(source)).py()
}

#[pymethods]
impl Simulator {
    /// Builds the network of a model file's text (`source` names it in errors).
    /// `threads`: worker threads (0 = one per core; default: the model's setting).
    #[new]
    #[pyo3(signature = (model_toml, threads=None, source="<python network>"))]
    fn new(
        py: Python<'_>,
        model_toml: &str,
        threads: Option<usize>,
        source: &str,
    ) -> PyResult<Self> {
        let spec = parse(model_toml, source)?;
        Self::build(py, spec, threads)
    }

    /// Reads and builds a model file.
    #[staticmethod]
    #[pyo3(signature = (path, threads=None))]
    fn load(py: Python<'_>, path: PathBuf, threads: Option<usize>) -> PyResult<Self> {
        let spec = NetworkSpec::load(&path).py()?;
        Self::build(py, spec, threads)
    }

    /// Simulates `duration_ms` (rounded to whole steps) with the GIL released.
    /// Ctrl-C (a pending signal) stops between chunks with `KeyboardInterrupt`; the
    /// network is then at a step boundary and can run on.
    fn run(&mut self, py: Python<'_>, duration_ms: f64) -> PyResult<()> {
        if !(duration_ms.is_finite() && duration_ms >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "invalid value for `duration_ms`: {duration_ms}; allowed: a finite number >= 0"
            )));
        }
        let steps = (duration_ms / self.sim.dt_ms()).round() as u64;
        self.run_steps(py, steps)
    }

    /// Simulates `steps` steps (see `run`).
    fn run_steps(&mut self, py: Python<'_>, steps: u64) -> PyResult<()> {
        let mut left = steps;
        let mut chunk = 16u64;
        while left > 0 {
            let n = chunk.min(left);
            let sim = &mut self.sim;
            let t0 = Instant::now();
            py.detach(|| sim.run_steps(n));
            left -= n;
            // Chunks of about 50 ms wall time: signals are seen quickly and the
            // overhead of taking the GIL back stays far below 1 %.
            if t0.elapsed().as_secs_f64() < 0.025 {
                chunk = (chunk * 2).min(1 << 20);
            }
            py.check_signals()?;
        }
        Ok(())
    }

    /// Time step (ms).
    #[getter]
    fn dt_ms(&self) -> f64 {
        self.sim.dt_ms()
    }
    /// Simulated time so far (ms).
    #[getter]
    fn time_ms(&self) -> f64 {
        self.sim.time_ms()
    }
    /// Steps computed so far.
    #[getter]
    fn step(&self) -> u64 {
        self.sim.current_step()
    }
    /// Seed of the random streams.
    #[getter]
    fn seed(&self) -> u64 {
        self.sim.seed()
    }
    /// Worker threads (partitions) the network runs on.
    #[getter]
    fn threads(&self) -> usize {
        self.sim.partitions()
    }
    /// Synaptic events delivered so far.
    #[getter]
    fn synaptic_events(&self) -> u64 {
        self.sim.synaptic_events()
    }
    /// Wall time spent simulating so far (s).
    #[getter]
    fn wall_s(&self) -> f64 {
        self.sim.stats().wall_s
    }

    /// The populations: a list of dicts (name, size, is_source, state_names,
    /// receptors, spikes emitted so far).
    fn populations<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let spikes = &self.sim.stats().spikes;
        self.sim
            .populations()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let d = PyDict::new(py);
                d.set_item("name", &p.name)?;
                d.set_item("size", p.size)?;
                d.set_item("is_source", p.is_source)?;
                d.set_item("state_names", &p.state_names)?;
                d.set_item("receptors", &p.receptors)?;
                d.set_item("spikes", spikes.get(i).copied().unwrap_or(0))?;
                Ok(d)
            })
            .collect()
    }

    /// The projections: a list of dicts (name, source, target, receptor, synapses).
    fn projections<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let pops = self.sim.populations();
        self.sim
            .projections()
            .iter()
            .map(|p| {
                let d = PyDict::new(py);
                d.set_item("name", &p.name)?;
                d.set_item("source", &pops[p.source].name)?;
                d.set_item("target", &pops[p.target].name)?;
                d.set_item("receptor", &pops[p.target].receptors[p.receptor])?;
                d.set_item("synapses", p.synapses)?;
                Ok(d)
            })
            .collect()
    }

    /// Recorded spikes of `population` (it needs a spikes monitor):
    /// `(times_ms: float64[n], neurons: uint32[n])`, in time order.
    fn spikes<'py>(&self, py: Python<'py>, population: &str) -> crate::ArrayPair<'py, f64, u32> {
        self.pop(population)?;
        let rec = self
            .sim
            .recordings()
            .spikes
            .iter()
            .find(|s| s.population == population)
            .ok_or_else(|| no_monitor("spikes", population))?;
        let times = rec.times_ms(self.sim.dt_ms()).into_pyarray(py);
        let neurons = PyArray1::from_slice(py, &rec.neurons);
        Ok((times, neurons))
    }

    /// Recorded state variables of `population` (it needs a state monitor): a dict
    /// with `times_ms` (float64[samples]), `neurons` (uint32[k], the recorded ones)
    /// and one float32[samples, k] array per variable.
    fn states<'py>(&self, py: Python<'py>, population: &str) -> PyResult<Bound<'py, PyDict>> {
        self.pop(population)?;
        let rec = self
            .sim
            .recordings()
            .states
            .iter()
            .find(|s| s.population == population)
            .ok_or_else(|| no_monitor("state", population))?;
        let dt = self.sim.dt_ms();
        let (samples, nn, nv) = (rec.steps.len(), rec.neurons.len(), rec.variables.len());
        let d = PyDict::new(py);
        let times: Vec<f64> = rec.steps.iter().map(|&s| s as f64 * dt).collect();
        d.set_item("times_ms", times.into_pyarray(py))?;
        d.set_item("neurons", PyArray1::from_slice(py, &rec.neurons))?;
        for (v, name) in rec.variables.iter().enumerate() {
            let mut values = Vec::with_capacity(samples * nn);
            for s in 0..samples {
                for k in 0..nn {
                    values.push(rec.values[(s * nn + k) * nv + v]);
                }
            }
            let arr = values.into_pyarray(py).reshape([samples, nn])?;
            d.set_item(name, arr)?;
        }
        Ok(d)
    }

    /// Recorded population rate of `population` (it needs a rate monitor):
    /// `(bin_start_ms: float64[bins], rate_hz: float64[bins])`.
    fn rates<'py>(&self, py: Python<'py>, population: &str) -> crate::ArrayPair<'py, f64, f64> {
        self.pop(population)?;
        let rec = self
            .sim
            .recordings()
            .rates
            .iter()
            .find(|s| s.population == population)
            .ok_or_else(|| no_monitor("rate", population))?;
        let dt = self.sim.dt_ms();
        let starts: Vec<f64> = (0..rec.counts.len())
            .map(|i| (i as u64 * rec.bin_steps) as f64 * dt)
            .collect();
        Ok((starts.into_pyarray(py), rec.rates_hz(dt).into_pyarray(py)))
    }

    /// Empties every recording (the counters and the network state are kept).
    fn clear_recordings(&mut self) {
        self.sim.take_recordings();
    }

    /// Writes the recordings as the command line does (`spikes_<pop>.csv|npy`,
    /// `rate_<pop>.csv`, `state_<pop>_<k>.csv`) into `directory`; returns the files.
    #[pyo3(signature = (directory, format="npy"))]
    fn save_recordings(&self, directory: PathBuf, format: &str) -> PyResult<Vec<PathBuf>> {
        let format = match format {
            "csv" => SpikeFileFormat::Csv,
            "npy" => SpikeFileFormat::Npy,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "invalid value for `format`: `{format}`; allowed: csv, npy"
                )))
            }
        };
        write_recordings(self.sim.recordings(), self.sim.dt_ms(), &directory, format).py()
    }

    /// The current values of state variable `variable` of every neuron of
    /// `population` (float32[size]).
    fn state<'py>(
        &self,
        py: Python<'py>,
        population: &str,
        variable: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let p = self.pop(population)?;
        Ok(self.sim.state(p, variable).py()?.into_pyarray(py))
    }

    /// Sets state variable `variable` of every neuron of `population` (float32[size]).
    fn set_state(
        &mut self,
        population: &str,
        variable: &str,
        values: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        let p = self.pop(population)?;
        let values = values.as_slice()?;
        self.sim.set_state(p, variable, values).py()
    }

    /// Sets the rates (Hz, float64[size]) of a Poisson population from now on.
    fn set_poisson_rates(
        &mut self,
        population: &str,
        rates_hz: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let p = self.pop(population)?;
        self.sim.set_poisson_rates(p, rates_hz.as_slice()?).py()
    }

    /// Replaces the spikes of a spike-generator population: `times_ms` (float64, from
    /// now: 0 fires in the next step) and `neurons` (uint32), the same length.
    fn set_spike_times(
        &mut self,
        population: &str,
        times_ms: PyReadonlyArray1<'_, f64>,
        neurons: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<()> {
        let p = self.pop(population)?;
        let generator = SpikeGenerator {
            neurons: neurons.as_slice()?.to_vec(),
            times_ms: times_ms.as_slice()?.to_vec(),
        };
        self.sim.set_spike_generator(p, &generator).py()
    }

    /// The synapses of `projection` (its name, or `source->target`): a dict of
    /// `sources`, `targets` (uint32), `weights` (float32) and `delays_ms` (float64),
    /// one entry per synapse, source-major with targets ascending (the order
    /// `set_weights` takes).
    fn synapses<'py>(&self, py: Python<'py>, projection: &str) -> PyResult<Bound<'py, PyDict>> {
        let j = self.proj(projection)?;
        let rows = self.sim.synapses(j).py()?;
        let mut sources = Vec::with_capacity(rows.len());
        for i in 0..rows.row_ptr.len().saturating_sub(1) {
            sources.extend(std::iter::repeat_n(
                i as u32,
                rows.row_ptr[i + 1] - rows.row_ptr[i],
            ));
        }
        let dt = self.sim.dt_ms();
        let delays: Vec<f64> = rows.delay.iter().map(|&d| d as f64 * dt).collect();
        let d = PyDict::new(py);
        d.set_item("sources", sources.into_pyarray(py))?;
        d.set_item("targets", rows.target.into_pyarray(py))?;
        d.set_item("weights", rows.weight.into_pyarray(py))?;
        d.set_item("delays_ms", delays.into_pyarray(py))?;
        Ok(d)
    }

    /// The weights of `projection` (float32[synapses], in `synapses` order).
    fn weights<'py>(
        &self,
        py: Python<'py>,
        projection: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let j = self.proj(projection)?;
        Ok(self.sim.synapses(j).py()?.weight.into_pyarray(py))
    }

    /// Sets the weights of `projection` (float32[synapses], in `synapses` order).
    fn set_weights(
        &mut self,
        projection: &str,
        weights: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        let j = self.proj(projection)?;
        self.sim.set_weights(j, weights.as_slice()?).py()
    }

    /// Switches the plasticity of `projection` on or off.
    fn set_plasticity(&mut self, projection: &str, enabled: bool) -> PyResult<()> {
        let j = self.proj(projection)?;
        self.sim.set_plasticity_enabled(j, enabled).py()
    }

    /// Delivers `amount` of reward to a reward-modulated `projection`.
    fn reward(&mut self, projection: &str, amount: f64) -> PyResult<()> {
        let j = self.proj(projection)?;
        self.sim.reward(j, amount).py()
    }

    /// Returns neurons, receptors and the clock to their initial state (weights,
    /// recordings and counters are kept).
    fn reset(&mut self) {
        self.sim.reset();
    }

    /// The model file text of the network as described (weights changed with
    /// `set_weights` are not in it).
    fn to_toml(&self) -> PyResult<String> {
        self.spec.to_toml_string().py()
    }

    fn __repr__(&self) -> String {
        let pops: Vec<String> = self
            .sim
            .populations()
            .iter()
            .map(|p| format!("{}({})", p.name, p.size))
            .collect();
        format!(
            "Simulator(populations=[{}], projections={}, dt_ms={}, time_ms={}, threads={})",
            pops.join(", "),
            self.sim.projections().len(),
            self.sim.dt_ms(),
            self.sim.time_ms(),
            self.sim.partitions()
        )
    }
}

fn no_monitor(kind: &str, population: &str) -> PyErr {
    PyValueError::new_err(format!(
        "population `{population}` has no {kind} monitor; add one to the network (monitor kind = \"{kind}\")"
    ))
}

/// Validates a model's TOML text without building it; raises ValueError naming the
/// field on a problem.
#[pyfunction]
#[pyo3(signature = (model_toml, source="<python network>"))]
fn validate_model(model_toml: &str, source: &str) -> PyResult<()> {
    parse(model_toml, source)?.validate().py()
}

/// A model's TOML text, parsed and validated, as JSON (presets resolved, defaults
/// filled in, its `[scale]` applied and then `scale_neurons` / `scale_in_degree` on
/// top): what `spikelab.Network.from_toml` starts from.
#[pyfunction]
#[pyo3(signature = (model_toml, source="<toml text>", scale_neurons=1.0, scale_in_degree=1.0))]
fn model_to_json(
    model_toml: &str,
    source: &str,
    scale_neurons: f64,
    scale_in_degree: f64,
) -> PyResult<String> {
    let mut spec = parse(model_toml, source)?;
    let scale = spikelab_core::scale::ScaleSpec {
        neurons: scale_neurons,
        in_degree: scale_in_degree,
    };
    spec.scale_by(&scale, "scale").py()?;
    spec.validate().py()?;
    serde_json::to_string(&spec).map_err(|e| PyValueError::new_err(e.to_string()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Simulator>()?;
    m.add_function(wrap_pyfunction!(model_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(validate_model, m)?)
}
