//! Images read as sequences, the standard temporal benchmarks built from MNIST:
//! sequential MNIST row by row (28 steps × 28 inputs), pixel by pixel (784 steps × 1
//! input), and permuted sequential MNIST (the pixel order shuffled once by a fixed,
//! seeded permutation, the same for every image, as in Le et al. 2015).
//!
//! [`SequentialImages`] is a view over an [`ImageSet`] that writes time-major batches
//! (`steps × batch × inputs`, intensities in `[0, 1]`), the layout of the trainer's
//! recurrent layers and of [`crate::timeseries::TimeSeriesSet::batch_time_major`].

use crate::error::{Error, Result};
use crate::images::ImageSet;
use rand::seq::SliceRandom;
use spikelab_core::rng::{stream, Domain};

/// How an image becomes a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceOrder {
    /// One image row per step: `rows` steps of `cols` inputs.
    Rows,
    /// One pixel per step in row-major order: `rows × cols` steps of 1 input.
    Pixels,
    /// One pixel per step in a fixed random order drawn from `seed`.
    PermutedPixels {
        /// Seed of the permutation (the same seed gives the same order everywhere).
        seed: u64,
    },
}

impl SequenceOrder {
    /// Names accepted by [`SequenceOrder::parse`].
    pub const NAMES: &'static str = "rows, pixels, permuted-pixels";

    /// Parses `rows`, `pixels` or `permuted-pixels` (the latter with `seed`).
    pub fn parse(s: &str, seed: u64) -> Result<Self> {
        match s {
            "rows" | "row" => Ok(SequenceOrder::Rows),
            "pixels" | "pixel" => Ok(SequenceOrder::Pixels),
            "permuted-pixels" | "permuted" => Ok(SequenceOrder::PermutedPixels { seed }),
            _ => Err(Error::Invalid(format!(
                "unknown sequence order `{s}`; allowed: {}",
                Self::NAMES
            ))),
        }
    }
}

/// An image set read as sequences (see the module docs).
#[derive(Clone, Debug)]
pub struct SequentialImages<'a> {
    images: &'a ImageSet,
    order: SequenceOrder,
    /// Pixel read at each position of the flattened sequence (`steps × inputs`).
    pixel_order: Vec<u32>,
}

impl<'a> SequentialImages<'a> {
    /// A view of `images` in the given order.
    pub fn new(images: &'a ImageSet, order: SequenceOrder) -> Self {
        let p = images.pixels();
        let mut pixel_order: Vec<u32> = (0..p as u32).collect();
        if let SequenceOrder::PermutedPixels { seed } = order {
            pixel_order.shuffle(&mut stream(seed, Domain::Encoder, &[p as u64, 0x5053_4D4E]));
        }
        SequentialImages {
            images,
            order,
            pixel_order,
        }
    }

    /// Number of time steps of every sequence.
    pub fn steps(&self) -> usize {
        match self.order {
            SequenceOrder::Rows => self.images.rows,
            _ => self.images.pixels(),
        }
    }

    /// Inputs per step.
    pub fn inputs(&self) -> usize {
        match self.order {
            SequenceOrder::Rows => self.images.cols,
            _ => 1,
        }
    }

    /// The pixel (row-major index) read at each position of the flattened sequence.
    pub fn pixel_order(&self) -> &[u32] {
        &self.pixel_order
    }

    /// Writes the sequences of images `indices` time-major into `out`:
    /// `out[(t * batch + b) * inputs + i]`, pixel / 255. `out` must hold
    /// `steps × indices.len() × inputs` values.
    pub fn batch_time_major(&self, indices: &[usize], out: &mut [f32]) -> Result<()> {
        let (steps, inputs, b) = (self.steps(), self.inputs(), indices.len());
        if out.len() != steps * b * inputs {
            return Err(Error::Invalid(format!(
                "batch buffer holds {} values, expected steps × batch × inputs = {steps} × {b} × {inputs}",
                out.len()
            )));
        }
        if let Some(&i) = indices.iter().find(|&&i| i >= self.images.len()) {
            return Err(Error::Invalid(format!(
                "image index {i} is out of range 0..{}",
                self.images.len()
            )));
        }
        for (j, &i) in indices.iter().enumerate() {
            let image = self.images.image(i);
            for (k, &px) in self.pixel_order.iter().enumerate() {
                let (t, input) = (k / inputs, k % inputs);
                out[(t * b + j) * inputs + input] = image[px as usize] as f32 / 255.0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> ImageSet {
        // Two 2×3 images with pixels 0..6 and 10..16.
        ImageSet {
            images: (0..6).chain(10..16).map(|v| v as u8).collect(),
            labels: vec![1, 2],
            rows: 2,
            cols: 3,
            channels: 1,
        }
    }

    #[test]
    fn rows_are_steps() {
        let set = toy();
        let seq = SequentialImages::new(&set, SequenceOrder::Rows);
        assert_eq!((seq.steps(), seq.inputs()), (2, 3));
        let mut out = vec![0f32; 2 * 2 * 3];
        seq.batch_time_major(&[1, 0], &mut out).unwrap();
        let px: Vec<u8> = out.iter().map(|v| (v * 255.0).round() as u8).collect();
        // t = 0: row 0 of image 1, row 0 of image 0; t = 1: the rows 1.
        assert_eq!(px, [10, 11, 12, 0, 1, 2, 13, 14, 15, 3, 4, 5]);
    }

    #[test]
    fn pixels_are_steps_and_the_permutation_is_fixed_by_the_seed() {
        let set = toy();
        let seq = SequentialImages::new(&set, SequenceOrder::Pixels);
        assert_eq!((seq.steps(), seq.inputs()), (6, 1));
        let mut out = vec![0f32; 6];
        seq.batch_time_major(&[0], &mut out).unwrap();
        let px: Vec<u8> = out.iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(px, [0, 1, 2, 3, 4, 5]);

        let a = SequentialImages::new(&set, SequenceOrder::PermutedPixels { seed: 3 });
        let b = SequentialImages::new(&set, SequenceOrder::PermutedPixels { seed: 3 });
        let c = SequentialImages::new(&set, SequenceOrder::PermutedPixels { seed: 4 });
        assert_eq!(a.pixel_order(), b.pixel_order());
        let mut sorted = a.pixel_order().to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5]);
        // Six pixels have 720 orders: seeds 3 and 4 agreeing would be a 1-in-720 accident.
        assert_ne!(a.pixel_order(), c.pixel_order());
        a.batch_time_major(&[0], &mut out).unwrap();
        let px: Vec<u32> = out.iter().map(|v| (v * 255.0).round() as u32).collect();
        assert_eq!(px, a.pixel_order());
    }

    #[test]
    fn bad_buffers_indices_and_names_are_errors() {
        let set = toy();
        let seq = SequentialImages::new(&set, SequenceOrder::Rows);
        let mut out = vec![0f32; 5];
        assert!(seq
            .batch_time_major(&[0], &mut out)
            .unwrap_err()
            .to_string()
            .contains("2 × 1 × 3"));
        let mut out = vec![0f32; 6];
        assert!(seq
            .batch_time_major(&[2], &mut out)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let e = SequenceOrder::parse("columns", 1).unwrap_err().to_string();
        assert!(e.contains("rows, pixels, permuted-pixels"), "{e}");
        assert_eq!(
            SequenceOrder::parse("permuted-pixels", 9).unwrap(),
            SequenceOrder::PermutedPixels { seed: 9 }
        );
    }
}
