//! The labelling task: which questions an annotator answers about each prompt's answers.
//! A task is an ordered list of criteria; each one is a ranking of the answers (`rank`) or
//! points for each answer on a small integer scale (`rate`). A DB without a task of its own has
//! one required `rank` criterion named `overall`, which is what kibble always asked.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CandidateId, RankingMode};

/// The criterion every ranking made before tasks existed is about.
pub const OVERALL: &str = "overall";
/// More criteria than this would not fit the label screen's header at 80 columns.
pub const MAX_CRITERIA: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub name: String,
    pub kind: CriterionKind,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// Order the answers, best first; ties allowed.
    Rank,
    /// Points per answer, typed as one digit: `min..=max` within 0..=9.
    Rate(Scale),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    pub min: u8,
    pub max: u8,
    /// One label per point (`min` first), or none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Scale {
    pub fn contains(&self, v: u8) -> bool {
        (self.min..=self.max).contains(&v)
    }
    pub fn label(&self, v: u8) -> Option<&str> {
        let i = v.checked_sub(self.min)? as usize;
        self.labels
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

impl Default for Task {
    fn default() -> Task {
        Task {
            name: "default".into(),
            criteria: vec![Criterion {
                name: OVERALL.into(),
                kind: CriterionKind::Rank,
                required: true,
            }],
        }
    }
}

impl Task {
    pub fn criterion(&self, name: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.name == name)
    }

    /// The criterion that exports and training use when none is named: the first one.
    pub fn first(&self) -> &Criterion {
        &self.criteria[0]
    }

    /// The criterion named `name`, else the first; an unknown name is an error listing the
    /// task's criteria.
    pub fn pick(&self, name: Option<&str>) -> Result<&Criterion, String> {
        match name {
            None => Ok(self.first()),
            Some(n) => self.criterion(n).ok_or_else(|| {
                format!(
                    "criterion {n:?} is not in the task ({}); see kibble task show",
                    self.names().join(", ")
                )
            }),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.criteria.iter().map(|c| c.name.as_str()).collect()
    }
}

impl CriterionKind {
    pub fn describe(&self) -> String {
        match self {
            CriterionKind::Rank => "rank".into(),
            CriterionKind::Rate(s) => format!("rate {}-{}", s.min, s.max),
        }
    }
}

/// What an annotator said on one criterion of one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Tie groups of candidate ids, best first.
    Order {
        criterion: String,
        groups: Vec<Vec<CandidateId>>,
        mode: RankingMode,
    },
    /// Points per candidate (every shown answer, for a required criterion).
    Points {
        criterion: String,
        points: Vec<(CandidateId, u8)>,
    },
}

impl Judgement {
    pub fn criterion(&self) -> &str {
        match self {
            Judgement::Order { criterion, .. } | Judgement::Points { criterion, .. } => criterion,
        }
    }
}

/// Tie groups implied by points: higher points first, equal points tied.
pub fn groups_from_points(points: &[(CandidateId, u8)]) -> Vec<Vec<CandidateId>> {
    let mut values: Vec<u8> = points.iter().map(|p| p.1).collect();
    values.sort_unstable_by(|a, b| b.cmp(a));
    values.dedup();
    values
        .iter()
        .map(|v| points.iter().filter(|p| p.1 == *v).map(|p| p.0).collect())
        .collect()
}

/// A task file that cannot be used: the file, the line, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TaskFileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The TOML shape of a task file (see `assets/task.toml`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    name: String,
    #[serde(default)]
    guidelines: Option<String>,
    #[serde(default)]
    criterion: Vec<toml::Spanned<CriterionFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CriterionFile {
    name: toml::Spanned<String>,
    kind: String,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    scale: Option<[u8; 2]>,
    #[serde(default)]
    labels: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Reads a task file: the task and the guidelines it sets, or an error naming file and line.
pub fn parse_task_file(file: &Path, text: &str) -> Result<(Task, Option<String>), TaskFileError> {
    let name = file.display().to_string();
    let line_at = |offset: usize| text[..offset.min(text.len())].lines().count().max(1);
    let err = |line: usize, message: String| TaskFileError {
        file: name.clone(),
        line,
        message,
    };
    let parsed: TaskFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_at(s.start));
        err(line, e.message().to_string())
    })?;
    if parsed.criterion.is_empty() {
        return Err(err(
            1,
            "no criteria: add at least one [[criterion]] with a name and kind = \"rank\" or \"rate\"".into(),
        ));
    }
    if parsed.criterion.len() > MAX_CRITERIA {
        let at = parsed.criterion[MAX_CRITERIA].span().start;
        return Err(err(
            line_at(at),
            format!("at most {MAX_CRITERIA} criteria fit the label screen"),
        ));
    }
    let mut criteria: Vec<Criterion> = Vec::new();
    for spanned in &parsed.criterion {
        let c = spanned.get_ref();
        // Errors point at the criterion's name: its table's own span starts before its header.
        let line = line_at(c.name.span().start);
        let name = c.name.get_ref();
        let valid_name = !name.is_empty()
            && name.len() <= 24
            && name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-');
        if !valid_name {
            return Err(err(
                line,
                format!(
                    "criterion name {:?}: use 1-24 lower-case letters, digits, _ or - (it is typed in --criterion and --reward)",
                    name
                ),
            ));
        }
        if name == "all" {
            return Err(err(
                line,
                "criterion name \"all\" is reserved (`train-rm --criteria all` means every criterion); choose another".to_string(),
            ));
        }
        if criteria.iter().any(|k| &k.name == name) {
            return Err(err(line, format!("criterion {:?} is named twice", name)));
        }
        let kind = match (c.kind.as_str(), c.scale) {
            ("rank", None) if c.labels.is_empty() => CriterionKind::Rank,
            ("rank", _) => {
                return Err(err(
                    line,
                    format!(
                        "criterion {:?}: a rank criterion takes no scale or labels",
                        name
                    ),
                ))
            }
            ("rate", Some([min, max])) => {
                if min >= max || max > 9 {
                    return Err(err(
                        line,
                        format!(
                            "criterion {:?}: scale [{min}, {max}] must be two points within 0-9, low first (points are typed as one digit)",
                            name
                        ),
                    ));
                }
                let points = (max - min + 1) as usize;
                if !c.labels.is_empty() && c.labels.len() != points {
                    return Err(err(
                        line,
                        format!(
                            "criterion {:?}: {} labels for {points} points; give one per point (\"\" for none) or leave labels out",
                            name,
                            c.labels.len()
                        ),
                    ));
                }
                CriterionKind::Rate(Scale {
                    min,
                    max,
                    labels: c.labels.clone(),
                })
            }
            ("rate", None) => {
                return Err(err(
                    line,
                    format!(
                        "criterion {:?}: a rate criterion needs scale = [low, high], e.g. [1, 5]",
                        name
                    ),
                ))
            }
            (other, _) => {
                return Err(err(
                    line,
                    format!(
                        "criterion {:?}: kind {other:?} is not \"rank\" or \"rate\"",
                        name
                    ),
                ))
            }
        };
        criteria.push(Criterion {
            name: name.clone(),
            kind,
            required: c.required,
        });
    }
    if !criteria.iter().any(|c| c.required) {
        return Err(err(
            line_at(parsed.criterion[0].span().start),
            "no criterion is required: an item could be saved with nothing said about it; set required = true on one".into(),
        ));
    }
    let guidelines = parsed
        .guidelines
        .map(|g| g.trim_end().to_string())
        .filter(|g| !g.trim().is_empty());
    Ok((
        Task {
            name: parsed.name,
            criteria,
        },
        guidelines,
    ))
}

/// A task as a task file, so `task show` output can be edited and `task set` again.
pub fn task_to_toml(task: &Task, guidelines: Option<&str>) -> String {
    let mut out = format!("name = {}\n", toml_str(&task.name));
    if let Some(g) = guidelines {
        out += &format!("guidelines = '''\n{g}\n'''\n");
    }
    for c in &task.criteria {
        out += &format!(
            "\n[[criterion]]\nname = {}\nkind = \"{}\"\nrequired = {}\n",
            toml_str(&c.name),
            match c.kind {
                CriterionKind::Rank => "rank",
                CriterionKind::Rate(_) => "rate",
            },
            c.required
        );
        if let CriterionKind::Rate(s) = &c.kind {
            out += &format!("scale = [{}, {}]\n", s.min, s.max);
            if !s.labels.is_empty() {
                let labels: Vec<String> = s.labels.iter().map(|l| toml_str(l)).collect();
                out += &format!("labels = [{}]\n", labels.join(", "));
            }
        }
    }
    out
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Task, Option<String>), TaskFileError> {
        parse_task_file(Path::new("task.toml"), text)
    }

    const TWO: &str = r#"name = "chat"
guidelines = "Be fair."

[[criterion]]
name = "helpful"
kind = "rank"

[[criterion]]
name = "funny"
kind = "rate"
scale = [1, 5]
labels = ["not at all", "", "", "", "very"]
required = false
"#;

    #[test]
    fn a_task_file_round_trips_through_show() {
        let (task, g) = parse(TWO).unwrap();
        assert_eq!(task.names(), ["helpful", "funny"]);
        assert!(task.criteria[0].required && !task.criteria[1].required);
        let CriterionKind::Rate(s) = &task.criteria[1].kind else {
            panic!("funny is rated")
        };
        assert_eq!(
            (s.min, s.max, s.label(1), s.label(2)),
            (1, 5, Some("not at all"), None)
        );
        assert_eq!(g.as_deref(), Some("Be fair."));
        let again = parse(&task_to_toml(&task, g.as_deref())).unwrap();
        assert_eq!(again, (task, g));
    }

    #[test]
    fn errors_name_the_line_of_the_criterion() {
        let bad = TWO.replace("scale = [1, 5]", "scale = [1, 12]");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.line, 9, "{e}");
        assert!(e.to_string().starts_with("task.toml:9: "), "{e}");
        let e = parse(&TWO.replace("\"funny\"", "\"helpful\"")).unwrap_err();
        assert!(e.message.contains("named twice"), "{e}");
        let e = parse(&TWO.replace("kind = \"rank\"", "kind = \"stars\"")).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        let e = parse(&TWO.replace("required = false", "required = maybe")).unwrap_err();
        assert_eq!(e.line, 13, "{e}");
        let e = parse("name = \"x\"\n").unwrap_err();
        assert!(e.message.contains("no criteria"), "{e}");
        let e = parse(&TWO.replace("\"funny\"", "\"Funny!\"")).unwrap_err();
        assert!(e.message.contains("lower-case"), "{e}");
        let e = parse(&TWO.replace(
            "labels = [\"not at all\", \"\", \"\", \"\", \"very\"]",
            "labels = [\"a\"]",
        ))
        .unwrap_err();
        assert!(e.message.contains("1 labels for 5 points"), "{e}");
    }

    #[test]
    fn points_imply_tie_groups_best_first() {
        let g = groups_from_points(&[(1, 3), (2, 5), (3, 3), (4, 1)]);
        assert_eq!(g, vec![vec![2], vec![1, 3], vec![4]]);
    }
}
