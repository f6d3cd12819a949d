//! The decoder's weights: matrices either packed f32 (`panels.rs`) or GGML blocks kept
//! quantised (`quant.rs`), and the token-embedding table. Shapes are checked as each weight is
//! taken, so a model file with a wrong shape is an error naming the weight, not a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use candle_core::{Error, Result};

use crate::ml::kernels::panels::{linear, Packed};
use crate::ml::kernels::quant::{qlinear, QMatrix, QPacked, Weight};

/// A weight matrix (d_out x d_in).
pub enum Matrix {
    F32(Packed),
    Quant(Arc<QPacked>),
}

impl Matrix {
    /// `y (rows x d_out) = x W^T + b`; an empty `b` is no bias.
    pub fn apply(&self, x: &[f32], rows: usize, b: &[f32]) -> Vec<f32> {
        match self {
            Matrix::F32(p) => linear(x, rows, p, b),
            Matrix::Quant(q) => qlinear(x, rows, q, b),
        }
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        match self {
            Matrix::F32(p) => p.len(),
            Matrix::Quant(q) => q.rows * q.cols,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            Matrix::F32(p) => 4 * p.len(),
            Matrix::Quant(q) => q.bytes(),
        }
    }
}

/// Token embeddings (vocab x d), looked up by id.
pub enum Table {
    F32(Vec<f32>),
    Quant(Arc<QPacked>),
}

impl Table {
    /// Row `t` into `out` (d long).
    pub fn row(&self, t: usize, out: &mut [f32]) {
        match self {
            Table::F32(v) => out.copy_from_slice(&v[t * out.len()..(t + 1) * out.len()]),
            Table::Quant(q) => q.dequantize_row(t, out),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Table::F32(v) => v.len(),
            Table::Quant(q) => q.rows * q.cols,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            Table::F32(v) => 4 * v.len(),
            Table::Quant(q) => q.bytes(),
        }
    }

    /// The LM head that shares these weights: the same blocks when quantised, a packed copy
    /// of f32.
    pub fn as_head(&self, vocab: usize, d: usize) -> Matrix {
        match self {
            Table::F32(v) => Matrix::F32(Packed::new(v, vocab, d)),
            Table::Quant(q) => Matrix::Quant(q.clone()),
        }
    }
}

/// Weights by name, handed out once each with their shapes checked.
pub struct Named(pub BTreeMap<String, Weight>);

impl Named {
    fn take(&mut self, name: &str, len: usize) -> Result<Weight> {
        let w = self
            .0
            .remove(name)
            .ok_or_else(|| Error::Msg(format!("the model has no weight {name}")))?;
        if w.len() != len {
            return Err(Error::Msg(format!(
                "weight {name} has {} values, the model's config needs {len}",
                w.len()
            )));
        }
        Ok(w)
    }

    /// A vector of `len` values (norms, biases).
    pub fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>> {
        Ok(self.take(name, len)?.into_f32())
    }

    /// Several vectors one after another (the biases of q, k and v).
    pub fn vectors(&mut self, parts: &[(String, usize)]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for (name, len) in parts {
            out.extend(self.vector(name, *len)?);
        }
        Ok(out)
    }

    /// The matrices `parts` (name, rows), each `cols` wide, stacked by rows into one (q, k and
    /// v: one pass over the input). Kept quantised when every part is quantised the same way.
    pub fn matrix(&mut self, parts: &[(String, usize)], cols: usize) -> Result<Matrix> {
        let mut ws = Vec::new();
        for (name, rows) in parts {
            let w = self.take(name, rows * cols)?;
            if let Weight::Quant(q) = &w {
                if q.cols != cols {
                    return Err(Error::Msg(format!(
                        "weight {name} is {} x {}, the model's config needs {rows} x {cols}",
                        q.rows, q.cols
                    )));
                }
            }
            ws.push(w);
        }
        let quant: Vec<&QMatrix> = ws
            .iter()
            .filter_map(|w| match w {
                Weight::Quant(q) => Some(q),
                Weight::F32(_) => None,
            })
            .collect();
        if quant.len() == ws.len() {
            if let Some(q) = QMatrix::stack(&quant) {
                return Ok(Matrix::Quant(Arc::new(QPacked::new(&q))));
            }
        }
        let rows = parts.iter().map(|p| p.1).sum();
        let f: Vec<f32> = ws.into_iter().flat_map(Weight::into_f32).collect();
        Ok(Matrix::F32(Packed::new(&f, rows, cols)))
    }

    /// The token-embedding table (rows x cols).
    pub fn table(&mut self, name: &str, rows: usize, cols: usize) -> Result<Table> {
        Ok(match self.take(name, rows * cols)? {
            Weight::Quant(q) if q.cols == cols => Table::Quant(Arc::new(QPacked::new(&q))),
            w => Table::F32(w.into_f32()),
        })
    }
}
