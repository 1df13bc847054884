//! Encoders drive the simulator: spike trains replayed by a spike-generator population
//! fire in exactly the steps of the trainer's dense tensor.

use spikelab_core::encoding::{BernoulliRate, Latency, PoissonRate};
use spikelab_core::prelude::*;

fn replay(trains: &SpikeTrains, grid: &TimeGrid, threads: usize) -> Vec<u8> {
    let n = trains.n_neurons;
    let net = NetworkSpec::new(grid.dt_ms, grid.duration_ms())
        .population(PopulationSpec::new(
            "in",
            n,
            NeuronSpec::SpikeGenerator(SpikeGenerator::default()),
        ))
        .monitor(MonitorSpec::Spikes {
            population: "in".into(),
            neurons: NeuronSelection::All,
        });
    let mut sim = Simulator::build_with_threads(&net, threads).unwrap();
    sim.set_spike_generator(0, &trains.to_generator()).unwrap();
    sim.run_steps(grid.n_steps as u64);
    let rec = &sim.recordings().spikes[0];
    let mut dense = vec![0u8; grid.n_steps * n];
    for (&s, &i) in rec.steps.iter().zip(&rec.neurons) {
        dense[s as usize * n + i as usize] = 1;
    }
    dense
}

#[test]
fn simulator_replays_encoded_spikes_in_the_trainers_steps() {
    let grid = TimeGrid::new(50, 0.5).unwrap();
    let image: Vec<f32> = (0..64).map(|k| (k % 9) as f32 / 8.0).collect();
    let encoders: Vec<Box<dyn Encoder>> = vec![
        Box::new(BernoulliRate::new(0.3, 1.0).unwrap()),
        Box::new(PoissonRate::new(150.0, 1.0).unwrap()),
        Box::new(Latency::linear(0.0, 20.0, 0.1).unwrap()),
    ];
    for enc in &encoders {
        let mut dense = vec![0u8; grid.n_steps * 64];
        enc.encode_batch_u8(&image, 64, &[5], &grid, 3, &mut dense)
            .unwrap();
        let trains = enc.encode(&image, &grid, 3, 5).snapped_to_steps(&grid);
        assert!(!trains.is_empty(), "{}", enc.name());
        for threads in [1, 3] {
            assert_eq!(
                replay(&trains, &grid, threads),
                dense,
                "{} threads {threads}",
                enc.name()
            );
        }
    }
}
