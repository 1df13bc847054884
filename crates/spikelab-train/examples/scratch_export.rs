use spikelab_core::prelude::*;
use spikelab_train::encode::*;
use spikelab_train::layers::Pass;
use spikelab_train::prelude::*;
use spikelab_train::tensor::Activation;
fn main() {
    let mut m = load_model(std::path::Path::new("/tmp/run_mlp/model.safetensors")).unwrap();
    let test =
        load_idx_dataset(std::path::Path::new("/work/shared/data/mnist"), Split::Test).unwrap();
    let ex = spikelab_train::export::export(&mut m.net, &m.config, 1.0).unwrap();
    let steps = m.config.steps;
    for sample in 0..3usize {
        let x = encode(
            &m.config.encoding,
            test.image(sample),
            test.shape,
            &[sample],
            steps,
            m.config.seed,
            EVAL_KEY,
        );
        // trainer per layer
        let pass = Pass::eval(steps, 1);
        let mut a = x.clone();
        let mut hidden = vec![];
        for (i, l) in m.net.layers_mut().iter_mut().enumerate() {
            a = l.forward(a, &pass);
            if i == 2 {
                let s = a.as_spikes().unwrap();
                hidden = (0..steps)
                    .map(|t| {
                        let mut c = 0;
                        s.for_each_active(t, |_| c += 1);
                        c
                    })
                    .collect::<Vec<_>>();
            }
        }
        let mut sim = Simulator::build_with_threads(&ex.spec, 1).unwrap();
        let s = x.as_spikes().unwrap();
        let (mut neurons, mut times) = (vec![], vec![]);
        for t in 0..steps {
            s.for_each_active(t, |j| {
                neurons.push(j as u32);
                times.push(t as f64);
            });
        }
        sim.set_spike_generator(
            0,
            &SpikeGenerator {
                neurons,
                times_ms: times,
            },
        )
        .unwrap();
        let hp = sim.population_index("l2_lif").unwrap();
        let mut eng = vec![];
        for _ in 0..ex.total_steps() {
            sim.run_steps(1);
            eng.push(sim.last_spikes(hp).len());
        }
        println!("trainer {:?}\nengine  {:?}", hidden, eng);
    }
}
