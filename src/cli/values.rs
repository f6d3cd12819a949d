//! Flag values that name a domain enum (`--format trl`, `--loss pl`). clap lives here only: each
//! flag enum mirrors its domain enum variant for variant, with the help clap lists, and
//! converts into it, so `data/`, `ml/` and `jobs/` do not depend on the CLI crate.

use crate::data::export::{ExportFormat, Merge};
use crate::data::Format;
use crate::jobs::policy::Method;
use crate::ml::training::optim::Schedule;
use crate::ml::training::reward::{LossKind, TieMode};

/// A flag enum and its conversion into the domain enum of the same variants.
macro_rules! flag_enum {
    ($(#[$m:meta])* $arg:ident => $dom:ident { $($(#[doc = $d:literal])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        pub enum $arg {
            $($(#[doc = $d])* $v),+
        }

        impl From<$arg> for $dom {
            fn from(a: $arg) -> $dom {
                match a {
                    $($arg::$v => $dom::$v),+
                }
            }
        }
    };
}

flag_enum!(ExportFormatArg => ExportFormat {
    /// TRL preference pairs `{"prompt","chosen","rejected","margin"?}`, one per ordered pair
    Trl,
    /// OpenRLHF reward data: `{"chosen","rejected"}` as full chat transcripts (+ "margin")
    Openrlhf,
    /// One object per ranking with tie groups, annotator, time and provenance ids
    Rankings,
    /// Every prompt with all its candidates, sources, scores and rankings (a full backup)
    Kibble,
    /// SFT data for TRL's SFTTrainer: `{"messages": [...prompt, {"role":"assistant",...}]}` with
    /// each prompt's best answer (best mean rank over its rankings)
    Sft,
    /// Prompts only, in the import format `{"prompt","id"?}`: for a sampler elsewhere
    Prompts,
    /// Points per answer, one line per rated answer (HelpSteer2-like):
    /// `{"prompt","response","ratings":{criterion: points},"annotator"}`
    Ratings,
    /// Points per answer, one line per decision: `{"prompt","completions":[{"response","ratings"}]}`
    Ultrafeedback,
});

flag_enum!(MergeArg => Merge {
    /// A pair where more rankings put A above B than B above A; ties and even splits drop
    Majority,
    /// One ranking by each answer's mean rank over the rankings that rank it (equal means tie)
    MeanRank,
});

flag_enum!(LossArg => LossKind {
    /// Bradley-Terry on every ordered pair a ranking implies.
    Bt,
    /// Plackett-Luce on full rankings (listwise); best/worst rankings fall back to pairs.
    Pl,
});

flag_enum!(TieArg => TieMode {
    Drop,
    /// Davidson's tie-aware Bradley-Terry.
    Model,
});

flag_enum!(ScheduleArg => Schedule { Cosine, Linear });

flag_enum!(MethodArg => Method {
    /// Best-of-n rejection-sampling fine-tuning.
    Bon,
    /// Direct preference optimisation on human rankings plus RM-ranked samples.
    Dpo,
    /// REINFORCE leave-one-out with a KL penalty, the RM as reward.
    Rloo,
});

/// `--format` of `import`: a format, or `auto` to decide from the first valid line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Auto,
    Kibble,
    Trl,
    Hh,
    Prompts,
    Ratings,
    Ultrafeedback,
}

impl FormatArg {
    pub fn format(self) -> Option<Format> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Kibble => Some(Format::Kibble),
            FormatArg::Trl => Some(Format::Trl),
            FormatArg::Hh => Some(Format::Hh),
            FormatArg::Prompts => Some(Format::Prompts),
            FormatArg::Ratings => Some(Format::Ratings),
            FormatArg::Ultrafeedback => Some(Format::Ultrafeedback),
        }
    }
}
