//! `kibble report`: the Scores and Runs views as one self-contained HTML file (inline SVG, no
//! scripts, no external files) for sharing outside the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::analysis::{correlation, decimate, histogram, smooth};
use crate::domain::metric;
use crate::store::Store;

const W: f64 = 560.0;
const H: f64 = 220.0;
const PAD: f64 = 36.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

fn esc(s: &str) -> String {
    crate::text::sanitize(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn scale(v: f64, lo: f64, hi: f64, out_lo: f64, out_hi: f64) -> f64 {
    if hi > lo {
        out_lo + (v - lo) / (hi - lo) * (out_hi - out_lo)
    } else {
        (out_lo + out_hi) / 2.0
    }
}

fn frame(title: &str, body: &str, x: (f64, f64), y: (f64, f64)) -> String {
    format!(
        r##"<figure><figcaption>{}</figcaption><svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">
<rect x="{PAD}" y="8" width="{}" height="{}" fill="none" stroke="#999"/>{body}
<text x="{PAD}" y="{}" font-size="10">{:.3}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{:.3}</text>
<text x="2" y="{}" font-size="10">{:.2}</text><text x="2" y="16" font-size="10">{:.2}</text></svg></figure>"##,
        esc(title),
        W - PAD - 8.0,
        H - PAD - 8.0,
        H - PAD + 14.0,
        x.0,
        W - 8.0,
        H - PAD + 14.0,
        x.1,
        H - PAD,
        y.0,
        y.1
    )
}

fn line_chart(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|p| p.1.is_finite())
        .collect();
    if all.is_empty() {
        return String::new();
    }
    let x = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.0), a.1.max(p.0))
    });
    let y = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.1), a.1.max(p.1))
    });
    let mut body = String::new();
    for (i, (name, pts)) in series.iter().enumerate() {
        let pts = decimate(pts, 400);
        let path: Vec<String> = pts
            .iter()
            .map(|&(px, py)| {
                format!(
                    "{:.1},{:.1}",
                    scale(px, x.0, x.1, PAD, W - 8.0),
                    scale(py, y.0, y.1, H - PAD, 8.0)
                )
            })
            .collect();
        let c = COLORS[i % COLORS.len()];
        let _ = write!(
            body,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/><text x="{}" y="{}" font-size="11" fill="{c}">{}</text>"#,
            path.join(" "),
            W - 120.0,
            22.0 + 14.0 * i as f64,
            esc(name)
        );
    }
    frame(title, &body, x, y)
}

fn histogram_chart(title: &str, groups: &BTreeMap<String, Vec<f64>>, bins: usize) -> String {
    let all: Vec<f64> = groups.values().flatten().copied().collect();
    if all.is_empty() {
        return String::new();
    }
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let hists: Vec<(&String, Vec<usize>)> = groups
        .iter()
        .map(|(k, v)| (k, histogram(v, bins, Some((lo, hi.max(lo + 1e-9)))).1))
        .collect();
    let max = hists
        .iter()
        .flat_map(|h| h.1.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bw = (W - PAD - 8.0) / bins as f64;
    let mut body = String::new();
    for (gi, (name, counts)) in hists.iter().enumerate() {
        let c = COLORS[gi % COLORS.len()];
        let sub = bw / hists.len() as f64;
        for (b, n) in counts.iter().enumerate() {
            let h = (H - PAD - 8.0) * *n as f64 / max;
            let _ = write!(
                body,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{c}" opacity="0.8"><title>{n}</title></rect>"#,
                PAD + b as f64 * bw + gi as f64 * sub,
                H - PAD - h,
                sub.max(1.0),
                h
            );
        }
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" font-size="11" fill="{c}">{} ({})</text>"#,
            W - 160.0,
            22.0 + 14.0 * gi as f64,
            esc(name),
            groups[*name].len()
        );
    }
    frame(title, &body, (lo, hi), (0.0, max))
}

fn scatter(title: &str, pts: &[(f64, f64)]) -> String {
    if pts.is_empty() {
        return String::new();
    }
    let x = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.0), a.1.max(p.0))
    });
    let y = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
        (a.0.min(p.1), a.1.max(p.1))
    });
    let mut body = String::new();
    for &(px, py) in pts.iter().take(5000) {
        let _ = write!(
            body,
            r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="#1f77b4" opacity="0.5"/>"##,
            scale(px, x.0, x.1, PAD, W - 8.0),
            scale(py, y.0, y.1, H - PAD, 8.0)
        );
    }
    frame(title, &body, x, y)
}

struct ScoreData {
    by_source: BTreeMap<String, Vec<f64>>,
    by_preference: BTreeMap<String, Vec<f64>>,
    length: Vec<(f64, f64)>,
}

fn score_data(store: &Store, checkpoint: i64) -> anyhow::Result<ScoreData> {
    let cands = store.scored_candidates(checkpoint, 0)?;
    let score: std::collections::HashMap<i64, f64> =
        cands.iter().map(|c| (c.id, c.value)).collect();
    let mut by_source: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for c in &cands {
        let group = c
            .source
            .split([':', '/'])
            .next()
            .unwrap_or(&c.source)
            .to_string();
        by_source.entry(group).or_default().push(c.value);
    }
    let mut by_preference: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in store.live_rankings(&crate::store::RankingFilter::default())? {
        for p in r.pairs().0 {
            if let (Some(c), Some(j)) = (score.get(&p.chosen), score.get(&p.rejected)) {
                by_preference.entry("chosen".into()).or_default().push(*c);
                by_preference.entry("rejected".into()).or_default().push(*j);
            }
        }
    }
    Ok(ScoreData {
        by_source,
        by_preference,
        length: cands.iter().map(|c| (c.chars as f64, c.value)).collect(),
    })
}

/// Each criterion's reward scores, and how they correlate over the answers scored by both
/// ("do funny and informative pull apart?"). Empty with fewer than two scored criteria.
pub fn criteria_section(store: &Store) -> anyhow::Result<String> {
    let table = criteria_correlations(store)?;
    if table.names.len() < 2 {
        return Ok(String::new());
    }
    let mut html = String::from("<h2>Criteria</h2>");
    html.push_str(&histogram_chart("reward by criterion", &table.scores, 20));
    html.push_str("<table><tr><th>r</th>");
    for n in &table.names {
        let _ = write!(html, "<th>{}</th>", esc(n));
    }
    html.push_str("</tr>");
    for (i, n) in table.names.iter().enumerate() {
        let _ = write!(html, "<tr><th>{}</th>", esc(n));
        for r in &table.r[i] {
            let _ = write!(
                html,
                "<td>{}</td>",
                r.map_or("-".into(), |r| format!("{r:+.2}"))
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table><p>Pearson r between criteria's normalised scores of the same answers: near +1 the criteria move together, near 0 or below they pull apart.</p>");
    Ok(html)
}

/// Per-criterion scores (newest scored checkpoint of each) and their pairwise correlations.
#[derive(Debug, Clone)]
pub struct CriteriaCorrelations {
    pub names: Vec<String>,
    pub scores: BTreeMap<String, Vec<f64>>,
    /// `r[i][j]`: correlation of criterion i and j over answers both scored.
    pub r: Vec<Vec<Option<f64>>>,
}

pub fn criteria_correlations(store: &Store) -> anyhow::Result<CriteriaCorrelations> {
    let mut by_criterion: Vec<(String, std::collections::HashMap<i64, f64>)> = Vec::new();
    for (name, ck, head) in store.criterion_scored_checkpoints()? {
        let s = store.scored_candidates(ck, head)?;
        by_criterion.push((name, s.iter().map(|c| (c.id, c.value)).collect()));
    }
    let names: Vec<String> = by_criterion.iter().map(|c| c.0.clone()).collect();
    let r = by_criterion
        .iter()
        .map(|(_, a)| {
            by_criterion
                .iter()
                .map(|(_, b)| {
                    let (xs, ys): (Vec<f64>, Vec<f64>) = a
                        .iter()
                        .filter_map(|(id, x)| Some((*x, *b.get(id)?)))
                        .unzip();
                    correlation(&xs, &ys)
                })
                .collect()
        })
        .collect();
    let scores = by_criterion
        .into_iter()
        .map(|(n, m)| (n, m.into_values().collect()))
        .collect();
    Ok(CriteriaCorrelations { names, scores, r })
}

/// The whole report as one HTML string.
pub fn render(store: &Store) -> anyhow::Result<String> {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kibble report</title><style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}figure{display:inline-block;margin:8px}figcaption{font-weight:bold}.warn{color:#b00}</style></head><body><h1>kibble report</h1>",
    );
    let stats = store.stats()?;
    let _ = write!(
        html,
        "<p>{} prompts, {} candidates, {} live rankings by {} annotators.</p>",
        stats.prompts,
        stats.candidates,
        stats.rankings,
        stats.annotators.len()
    );
    if let Some(ck) = store.latest_scored_checkpoint()? {
        let data = score_data(store, ck)?;
        let _ = write!(html, "<h2>Reward scores (checkpoint {ck})</h2>");
        html.push_str(&histogram_chart("reward by source", &data.by_source, 20));
        html.push_str(&histogram_chart(
            "chosen vs rejected (human pairs)",
            &data.by_preference,
            20,
        ));
        let xs: Vec<f64> = data.length.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = data.length.iter().map(|p| p.1).collect();
        match correlation(&xs, &ys) {
            Some(r) if r.abs() > 0.5 => {
                let _ = write!(html, "<p class=\"warn\">Length bias: reward and response length correlate, r = {r:+.2}.</p>");
            }
            Some(r) => {
                let _ = write!(html, "<p>Reward vs length: r = {r:+.2}.</p>");
            }
            None => {}
        }
        html.push_str(&scatter(
            "reward (y) vs length in characters (x)",
            &data.length,
        ));
    }
    html.push_str(&criteria_section(store)?);
    let runs: Vec<_> = store
        .runs()?
        .into_iter()
        .filter(|r| r.kind == "rm")
        .take(5)
        .collect();
    if !runs.is_empty() {
        html.push_str("<h2>Training runs</h2>");
        let mut loss = Vec::new();
        let mut acc = Vec::new();
        for r in &runs {
            let pts = |name: &str| -> anyhow::Result<Vec<(f64, f64)>> {
                Ok(store
                    .metric_series(r.id, name, -1)?
                    .iter()
                    .map(|p| (p.step as f64, p.value))
                    .collect())
            };
            loss.push((
                format!("run {} loss (smoothed)", r.id),
                smooth(&pts(metric::LOSS)?, 0.9),
            ));
            acc.push((
                format!("run {} eval accuracy", r.id),
                pts(metric::EVAL_ACCURACY)?,
            ));
        }
        html.push_str(&line_chart("training loss", &loss));
        html.push_str(&line_chart("eval accuracy", &acc));
    }
    html.push_str("</body></html>\n");
    Ok(html)
}
