//! The `tiny` reward model's encoder (token and position embeddings, then every block) as
//! one candle op on CPU f32.
//!
//! Why: candle's autograd gives the gradient of every op's input a zero-filled buffer and
//! then adds into it, on one thread. Between four fused blocks that was four 2 MiB zero-fills
//! and adds, and the embedding's backward pass (a zero-filled 8 MiB table, an `index_add`
//! that copies it, the position gradient's reduction) ran single-threaded too: about 3 % of
//! a training step with the other core idle. Here each block's input gradient goes straight
//! into the block below, and the embedding gradients are written once, in parallel.
//!
//! Like the blocks' weights, the embedding tables' gradients go to the side table that
//! [`crate::ml::models::block::SideGrads::backward`] collects (the model's own table): a backward
//! pass through this op must go through it, not `Tensor::backward`. One backward pass per forward pass: it frees the activations.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use crate::ml::kernels::{contiguous, FusedAttention};
use crate::ml::models::block::{add_into, new_rows, FusedBlock, Saved, SideGrads, Slices};

/// Rows of the token-embedding gradient written per rayon task.
const TABLE_ROWS: usize = 256;

pub(crate) struct FusedEncoder {
    /// The position table (max_len, d); the first `seq` rows are added to each sequence.
    pos: Tensor,
    /// Token ids, batch-major (batch * seq).
    ids: Vec<u32>,
    seq: usize,
    blocks: Vec<FusedBlock>,
    /// Each block's input and kept activations, bottom first, for the backward pass.
    saved: Mutex<Vec<(Vec<f32>, Saved)>>,
    /// Where the embedding gradients go (the model's table; the blocks hold it too).
    side: Arc<SideGrads>,
}

impl FusedEncoder {
    /// The encoder over `ids` (batch, seq) as one op on `tok`, or `None` where the fused op
    /// does not apply (not CPU f32, or trainable weights that the op's graph would miss
    /// because `tok` is not tracked): the caller then composes the usual ops.
    ///
    /// `blocks`: each block's weights in `TinyBlock::weights` order; `side`: the model's table
    /// for the weight gradients.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply(
        tok: &Tensor,
        pos: &Tensor,
        ids: &Tensor,
        mask: &Tensor,
        blocks: Vec<Vec<Tensor>>,
        heads: usize,
        eps: f64,
        side: &Arc<SideGrads>,
    ) -> Result<Option<Tensor>> {
        let cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
        let all: Vec<&Tensor> = [tok, pos]
            .into_iter()
            .chain(blocks.iter().flatten())
            .collect();
        if !all.iter().all(|t| cpu_f32(t)) {
            return Ok(None);
        }
        // Gradients flow only through a recorded op, and it is recorded when `tok` is
        // tracked; a trainable weight under an untracked `tok` needs the composed ops. The
        // side table takes gradients of leaves (variables) only.
        if !tok.track_op() && all.iter().any(|t| t.track_op()) {
            return Ok(None);
        }
        if all.iter().any(|t| t.track_op() && !t.is_variable()) {
            return Ok(None);
        }
        let (b, t) = ids.dims2()?;
        let (vocab, d) = tok.dims2()?;
        let (max_len, pos_d) = pos.dims2()?;
        if t == 0 {
            return Ok(None);
        }
        if t > max_len || pos_d != d || mask.dims2()? != (b, t) {
            candle_core::bail!(
                "fused encoder: {b} x {t} tokens with a {max_len} x {pos_d} position table, \
                 {d}-wide token embeddings and a {:?} mask",
                mask.dims()
            );
        }
        let ids = ids.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            candle_core::bail!("token id {bad} is outside the vocabulary of {vocab}");
        }
        let mask = mask.to_dtype(DType::F32)?.contiguous()?;
        let attention = FusedAttention {
            batch: b,
            seq: t,
            heads,
            causal: false,
        };
        let train = tok.track_op();
        let blocks = blocks
            .into_iter()
            .map(|w| FusedBlock::new(w, mask.clone(), attention, eps, train, side.clone()))
            .collect();
        let op = FusedEncoder {
            pos: pos.clone(),
            ids,
            seq: t,
            blocks,
            saved: Mutex::new(Vec::new()),
            side: side.clone(),
        };
        Ok(Some(tok.contiguous()?.apply_op1(op)?))
    }

    /// Token plus position embedding of every row: (batch * seq, d).
    fn embed(&self, tok: &[f32], pos: &[f32], d: usize) -> Vec<f32> {
        const ROWS: usize = 32;
        // SAFETY: every row is written whole (token row plus position row) below.
        unsafe {
            new_rows(self.ids.len(), d, ROWS, |i0, rows| {
                for (r, row) in rows.chunks_mut(d).enumerate() {
                    let i = i0 + r;
                    let id = self.ids[i] as usize;
                    let (e, p) = (&tok[id * d..][..d], &pos[(i % self.seq) * d..][..d]);
                    for ((o, e), p) in row.iter_mut().zip(e).zip(p) {
                        o.write(e + p);
                    }
                }
            })
        }
    }

    /// The token table's gradient (vocab, d): each id's row is the sum of the gradients at
    /// its positions, added in position order (as `index_add` does), so the result does not
    /// depend on scheduling. Blocks of rows are written in parallel, each row once.
    fn token_grad(&self, dx: &[f32], vocab: usize, d: usize) -> Vec<f32> {
        // Positions grouped by id, in order: `order[start[id]..start[id + 1]]`.
        let mut start = vec![0usize; vocab + 1];
        for &id in &self.ids {
            start[id as usize + 1] += 1;
        }
        for i in 0..vocab {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut order = vec![0usize; self.ids.len()];
        for (i, &id) in self.ids.iter().enumerate() {
            order[next[id as usize]] = i;
            next[id as usize] += 1;
        }
        // SAFETY: every row is zeroed before its gradients are added.
        unsafe {
            new_rows(vocab, d, TABLE_ROWS, |r0, rows| {
                for (r, row) in rows.chunks_mut(d).enumerate() {
                    let id = r0 + r;
                    let row = zeroed(row);
                    for &i in &order[start[id]..start[id + 1]] {
                        add_into(row, &dx[i * d..][..d]);
                    }
                }
            })
        }
    }

    /// The position table's gradient (rows, d): row p < seq sums the batch's gradients at
    /// position p, in batch order; the rows past `seq` are zero.
    fn position_grad(&self, dx: &[f32], rows: usize, d: usize) -> Vec<f32> {
        let t = self.seq;
        let batch = self.ids.len() / t;
        // SAFETY: every row is zeroed before its gradients are added.
        unsafe {
            new_rows(rows, d, 8, |p0, block| {
                for (r, row) in block.chunks_mut(d).enumerate() {
                    let row = zeroed(row);
                    if p0 + r < t {
                        for bi in 0..batch {
                            add_into(row, &dx[(bi * t + p0 + r) * d..][..d]);
                        }
                    }
                }
            })
        }
    }
}

/// The row filled with zeros, as initialised values.
fn zeroed(row: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    row.iter_mut().for_each(|v| {
        v.write(0.0);
    });
    // SAFETY: every element was written just above, and MaybeUninit<f32> has f32's layout.
    unsafe { &mut *(row as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

impl CustomOp1 for FusedEncoder {
    fn name(&self) -> &'static str {
        "kibble-encoder"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(tok) = storage else {
            candle_core::bail!("fused encoder: f32 only");
        };
        let tok = contiguous(tok, layout, "token embeddings")?;
        let (_, d) = layout.shape().dims2()?;
        let pos = Slices::new(std::slice::from_ref(&self.pos));
        let mut x = self.embed(tok, pos.get(0)?, d);
        drop(pos);
        let mut saved = Vec::new();
        for blk in &self.blocks {
            let (out, kept) = blk.forward(&x, d)?;
            if let Some(kept) = kept {
                saved.push((x, kept));
            }
            x = out;
        }
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = saved;
        let n = x.len() / d;
        Ok((CpuStorage::F32(x), Shape::from_dims(&[n, d])))
    }

    fn bwd(&self, tok: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let saved = std::mem::take(&mut *self.saved.lock().unwrap_or_else(|e| e.into_inner()));
        if saved.len() != self.blocks.len() {
            candle_core::bail!(
                "fused encoder: no activations kept (a second backward pass, or none tracked)"
            );
        }
        let grad = [grad.contiguous()?.to_dtype(DType::F32)?];
        let grad = Slices::new(&grad);
        // The top block reads the incoming gradient in place; each one below, the input
        // gradient of the block above it.
        let mut dy = Cow::Borrowed(grad.get(0)?);
        let (vocab, d) = tok.dims2()?;
        // Each block's activations are freed once its backward pass is done.
        for (blk, (x, kept)) in self.blocks.iter().zip(saved).rev() {
            let (dx, grads) = blk.backward(&x, &dy, &kept)?;
            blk.stash_grads(grads)?;
            dy = Cow::Owned(dx);
        }
        if tok.is_variable() {
            self.side.stash(tok, self.token_grad(&dy, vocab, d))?;
        }
        if self.pos.is_variable() {
            let rows = self.pos.dim(0)?;
            self.side
                .stash(&self.pos, self.position_grad(&dy, rows, d))?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::models::reward::{Init, Params, TinyBlock};
    use candle_core::{Device, Var};

    /// The fused encoder equals the embedding ops followed by the fused blocks one by one:
    /// output and the gradient of every weight, with a padded sequence, a repeated token and
    /// a position table longer than the batch's sequences.
    #[test]
    fn fused_encoder_matches_the_embedding_and_blocks_one_by_one() {
        let dev = Device::Cpu;
        let (vocab, max_len, d, heads, ff) = (11, 7, 8, 2, 16);
        let (b, t) = (2, 5);
        let mut p = Params::new(&dev, DType::F32, 3);
        let tok = p.get("tok", &[vocab, d], Init::Normal).unwrap();
        let pos = p.get("pos", &[max_len, d], Init::Normal).unwrap();
        let blocks: Vec<TinyBlock> = (0..2)
            .map(|i| TinyBlock::new(&mut p, &format!("blk{i}"), d, ff, 1e-5).unwrap())
            .collect();
        // Values other than the initialisation (LayerNorm's ones and zeros, tiny weights).
        crate::ml::models::block::test_support::jitter(&p, 0.5);
        let ids = Tensor::new(&[[1u32, 4, 4, 9, 0], [4, 2, 10, 0, 0]], &dev).unwrap();
        let (mask, _, probe) = crate::ml::models::block::test_support::padded_batch(d);
        let vars = p.vars();

        let weights = blocks.iter().map(TinyBlock::weights).collect();
        let fused = FusedEncoder::apply(&tok, &pos, &ids, &mask, weights, heads, 1e-5, &p.side)
            .unwrap()
            .expect("the fused encoder applies to CPU f32");
        let mut x = tok
            .embedding(&ids.flatten_all().unwrap())
            .unwrap()
            .reshape((b, t, d))
            .unwrap()
            .broadcast_add(&pos.narrow(0, 0, t).unwrap())
            .unwrap()
            .reshape((b * t, d))
            .unwrap();
        for blk in &blocks {
            x = blk.forward(&x, &mask, b, t, heads, false).unwrap();
        }
        let diff = crate::ml::kernels::max_abs_diff(&fused, &x).unwrap();
        assert!(diff < 1e-6, "outputs differ by {diff}");

        let grads = |y: &Tensor| {
            let loss = (y * &probe).unwrap().sum_all().unwrap();
            p.side.backward(&loss, &vars).unwrap()
        };
        let (gf, gr) = (grads(&fused), grads(&x));
        crate::ml::models::block::test_support::assert_same_grads(&gf, &gr, &vars, 1e-5, "encoder");
        // Tokens 3 and 5-8 never occur, and positions past the batch's length are unused.
        let rows_of = |name| {
            let g = gf.get(vars_named(&vars, name)).unwrap();
            g.to_vec2::<f32>().unwrap()
        };
        let g_tok = rows_of("tok");
        assert!(g_tok[3].iter().chain(&g_tok[5]).all(|&v| v == 0.0));
        assert!(g_tok[4].iter().any(|&v| v != 0.0), "token 4 has a gradient");
        let g_pos = rows_of("pos");
        assert!(g_pos[5].iter().chain(&g_pos[6]).all(|&v| v == 0.0));
    }

    fn vars_named<'a>(vars: &'a [(String, Var)], name: &str) -> &'a Tensor {
        vars.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_tensor())
            .unwrap()
    }

    #[test]
    fn a_token_id_outside_the_vocabulary_is_an_error() {
        let dev = Device::Cpu;
        let mut p = Params::new(&dev, DType::F32, 3);
        let tok = p.get("tok", &[4, 8], Init::Normal).unwrap();
        let pos = p.get("pos", &[3, 8], Init::Normal).unwrap();
        let ids = Tensor::new(&[[1u32, 4]], &dev).unwrap();
        let mask = Tensor::new(&[[1f32, 1.]], &dev).unwrap();
        let side = Arc::default();
        let err =
            FusedEncoder::apply(&tok, &pos, &ids, &mask, Vec::new(), 2, 1e-5, &side).unwrap_err();
        assert!(
            err.to_string()
                .contains("token id 4 is outside the vocabulary of 4"),
            "{err}"
        );
    }
}
