//! Selections of neurons within a population, as written in model files:
//! `"all"`, a list of indices `[0, 5, 9]`, or the first N `{ first = 100 }`.

use crate::error::{Error, Result};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A subset of a population's neurons.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum NeuronSelection {
    /// Every neuron.
    #[default]
    All,
    /// Explicit indices.
    List(Vec<u32>),
    /// Neurons `0..n`.
    First(usize),
}

impl NeuronSelection {
    /// Checks indices against the population size.
    pub fn validate(&self, field: &str, size: usize) -> Result<()> {
        match self {
            NeuronSelection::All => Ok(()),
            NeuronSelection::First(n) if *n <= size => Ok(()),
            NeuronSelection::First(n) => Err(Error::field(
                field,
                format!("first {n} exceeds the population size {size}"),
            )),
            NeuronSelection::List(v) => match v.iter().position(|&i| i as usize >= size) {
                None => Ok(()),
                Some(k) => Err(Error::field(
                    format!("{field}[{k}]"),
                    format!("index {} is out of range 0..{size}", v[k]),
                )),
            },
        }
    }

    /// The selected indices in increasing order, without duplicates.
    pub fn indices(&self, size: usize) -> Vec<u32> {
        match self {
            NeuronSelection::All => (0..size as u32).collect(),
            NeuronSelection::First(n) => (0..(*n).min(size) as u32).collect(),
            NeuronSelection::List(v) => {
                let mut v: Vec<u32> = v.iter().copied().filter(|&i| (i as usize) < size).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        }
    }
}

impl Serialize for NeuronSelection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            NeuronSelection::All => s.serialize_str("all"),
            NeuronSelection::List(v) => v.serialize(s),
            NeuronSelection::First(n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("first", n)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for NeuronSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NeuronSelection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"all\", a list of neuron indices, or { first = N }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s == "all" {
                    Ok(NeuronSelection::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(s), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(i) = seq.next_element::<u32>()? {
                    v.push(i);
                }
                Ok(NeuronSelection::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut first = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k == "first" {
                        first = Some(map.next_value::<usize>()?);
                    } else {
                        return Err(de::Error::unknown_field(&k, &["first"]));
                    }
                }
                first
                    .map(NeuronSelection::First)
                    .ok_or_else(|| de::Error::missing_field("first"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[derive(Deserialize)]
    struct H {
        n: NeuronSelection,
    }
    #[test]
    fn parses_all_forms() {
        assert_eq!(
            toml::from_str::<H>("n = \"all\"").unwrap().n,
            NeuronSelection::All
        );
        assert_eq!(
            toml::from_str::<H>("n = [3, 1]").unwrap().n,
            NeuronSelection::List(vec![3, 1])
        );
        assert_eq!(
            toml::from_str::<H>("n = { first = 4 }").unwrap().n,
            NeuronSelection::First(4)
        );
        assert!(toml::from_str::<H>("n = \"some\"").is_err());
        assert!(toml::from_str::<H>("n = { last = 4 }").is_err());
        assert_eq!(NeuronSelection::List(vec![3, 1, 3]).indices(4), vec![1, 3]);
        assert!(NeuronSelection::List(vec![5])
            .validate("m.neurons", 4)
            .is_err());
    }
}
