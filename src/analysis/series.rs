//! Series for charts: decimation that keeps spikes, smoothing, histograms, correlation.

/// Keeps at most `2 * buckets` points of a series sorted by x: the min and max of each bucket,
/// in x order, so spikes survive and a 100k-point series draws as fast as a 100-point one.
pub fn decimate(points: &[(f64, f64)], buckets: usize) -> Vec<(f64, f64)> {
    if points.len() <= 2 * buckets.max(1) {
        return points.to_vec();
    }
    let (x0, x1) = (points[0].0, points[points.len() - 1].0);
    let width = (x1 - x0) / buckets as f64;
    let mut out = Vec::with_capacity(2 * buckets);
    let mut i = 0;
    for b in 0..buckets {
        let end = if b + 1 == buckets {
            f64::INFINITY
        } else {
            x0 + width * (b + 1) as f64
        };
        let start = i;
        while i < points.len() && points[i].0 < end {
            i += 1;
        }
        if start == i {
            continue;
        }
        let bucket = &points[start..i];
        let lo = bucket
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(j, _)| j)
            .unwrap_or(0);
        let hi = bucket
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(j, _)| j)
            .unwrap_or(0);
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(bucket[a]);
        if b != a {
            out.push(bucket[b]);
        }
    }
    out
}

/// Exponential moving average (TensorBoard-style smoothing) of y values.
pub fn smooth(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let mut last = None;
    points
        .iter()
        .map(|&(x, y)| {
            let s = match last {
                None => y,
                Some(l) => weight * l + (1.0 - weight) * y,
            };
            last = Some(s);
            (x, s)
        })
        .collect()
}

/// Equal-width histogram over [min, max] of the values: (bin edges, counts).
pub fn histogram(values: &[f64], bins: usize, range: Option<(f64, f64)>) -> (Vec<f64>, Vec<usize>) {
    let bins = bins.max(1);
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = range.unwrap_or_else(|| {
        let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if finite.is_empty() {
            (0.0, 1.0)
        } else if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        }
    });
    let width = (hi - lo) / bins as f64;
    let edges = (0..=bins).map(|i| lo + width * i as f64).collect();
    let mut counts = vec![0; bins];
    for v in finite {
        if v < lo || v > hi {
            continue;
        }
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    (edges, counts)
}

/// Pearson correlation, or `None` with fewer than 2 points or no variance.
pub fn correlation(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return None;
    }
    let mx = xs[..n].iter().sum::<f64>() / n as f64;
    let my = ys[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (xs[i] - mx, ys[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod chart_tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_per_bucket() {
        let mut pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64, (i as f64 * 0.01).sin()))
            .collect();
        pts[51_234].1 = 50.0; // a spike
        pts[77_777].1 = -40.0;
        let d = decimate(&pts, 100);
        assert!(d.len() <= 200);
        assert!(d.contains(&(51_234.0, 50.0)));
        assert!(d.contains(&(77_777.0, -40.0)));
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(decimate(&pts[..10], 100).len(), 10);
    }

    #[test]
    fn histogram_bins_and_edges() {
        let (edges, counts) = histogram(&[0.0, 0.1, 0.5, 0.9, 1.0, f64::NAN], 2, None);
        assert_eq!(edges, vec![0.0, 0.5, 1.0]);
        assert_eq!(counts, vec![2, 3]);
        let (_, c) = histogram(&[3.0, 3.0], 4, None);
        assert_eq!(c.iter().sum::<usize>(), 2);
        let (_, c) = histogram(&[-5.0, 0.2], 2, Some((0.0, 1.0)));
        assert_eq!(c, vec![1, 0]);
    }

    #[test]
    fn correlation_signs() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((correlation(&x, &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((correlation(&x, &[8.0, 6.0, 4.0, 2.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(correlation(&x, &[1.0, 1.0, 1.0, 1.0]), None);
        assert_eq!(correlation(&[1.0], &[1.0]), None);
    }

    #[test]
    fn smoothing_starts_at_the_first_value() {
        let s = smooth(&[(0.0, 1.0), (1.0, 0.0)], 0.9);
        assert_eq!(s[0].1, 1.0);
        assert!((s[1].1 - 0.9).abs() < 1e-12);
    }
}

/// Per-block summaries of a growing series (index of the first minimum and last maximum of
/// every `BLOCK` points), so `decimate_indexed` reads O(n / BLOCK) entries instead of all points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinMaxIndex {
    mins: Vec<usize>,
    maxs: Vec<usize>,
}

const BLOCK: usize = 64;

impl MinMaxIndex {
    /// Call after appending `points.last()`.
    pub fn update(&mut self, points: &[(f64, f64)]) {
        let i = points.len() - 1;
        let b = i / BLOCK;
        if b == self.mins.len() {
            self.mins.push(i);
            self.maxs.push(i);
            return;
        }
        if points[i].1.total_cmp(&points[self.mins[b]].1).is_lt() {
            self.mins[b] = i;
        }
        if points[i].1.total_cmp(&points[self.maxs[b]].1).is_ge() {
            self.maxs[b] = i;
        }
    }
}

/// The same result as `decimate`, using the block summaries of `index`.
pub fn decimate_indexed(
    points: &[(f64, f64)],
    index: &MinMaxIndex,
    buckets: usize,
) -> Vec<(f64, f64)> {
    if points.len() <= 2 * buckets.max(1) || index.mins.len() * BLOCK < points.len() {
        return decimate(points, buckets);
    }
    let (x0, x1) = (points[0].0, points[points.len() - 1].0);
    let width = (x1 - x0) / buckets as f64;
    let mut out = Vec::with_capacity(2 * buckets);
    let mut start = 0;
    let less = |a: usize, b: usize| points[a].1.total_cmp(&points[b].1).is_lt();
    for b in 0..buckets {
        let end = if b + 1 == buckets {
            points.len()
        } else {
            let limit = x0 + width * (b + 1) as f64;
            start + points[start..].partition_point(|p| p.0 < limit)
        };
        if start == end {
            continue;
        }
        // First minimum and last maximum over [start, end).
        let (mut lo, mut hi) = (start, start);
        let mut i = start;
        while i < end {
            let blk = i / BLOCK;
            if i % BLOCK == 0 && i + BLOCK <= end {
                if less(index.mins[blk], lo) {
                    lo = index.mins[blk];
                }
                if !less(index.maxs[blk], hi) {
                    hi = index.maxs[blk];
                }
                i += BLOCK;
            } else {
                if less(i, lo) {
                    lo = i;
                }
                if !less(i, hi) {
                    hi = i;
                }
                i += 1;
            }
        }
        let (a, z) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(points[a]);
        if z != a {
            out.push(points[z]);
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod index_tests {
    use super::*;

    #[test]
    fn indexed_decimation_equals_the_plain_one() {
        let mut x: u64 = 99;
        for n in [10usize, 130, 1000, 4097, 100_000] {
            let mut pts = Vec::new();
            let mut idx = MinMaxIndex::default();
            for i in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Coarse values so ties happen.
                pts.push((i as f64, (x % 50) as f64));
                idx.update(&pts);
            }
            for buckets in [1, 7, 70, 300] {
                assert_eq!(
                    decimate_indexed(&pts, &idx, buckets),
                    decimate(&pts, buckets),
                    "n {n} buckets {buckets}"
                );
            }
        }
    }
}
