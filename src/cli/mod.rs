//! Command-line definitions (clap derive). Behaviour lives in `commands.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod values;

pub use values::*;

#[derive(Debug, Parser)]
#[command(
    name = "kibble",
    version,
    about = "A terminal-native RLHF workbench: rank model responses, train a reward model, improve a policy.",
    after_help = "Examples:\n  kibble                         open the labelling app (imports the sample data into a new DB)\n  kibble import data.jsonl       import prompts, candidates or preference pairs\n  kibble export --format trl --out pairs.jsonl\n  kibble stats --json"
)]
pub struct Cli {
    /// SQLite database file.
    #[arg(long, global = true, env = "KIBBLE_DB", default_value = "kibble.db")]
    pub db: PathBuf,

    /// Share the DB and checkpoints with this Unix group (group read/write, nobody else): sets umask
    /// 007 and the files' group. Without it the process umask decides.
    #[arg(long, global = true, env = "KIBBLE_GROUP", value_name = "GROUP")]
    pub group: Option<String>,

    /// Who is labelling (default: $USER). Recorded with the OS user who ran kibble.
    #[arg(long)]
    pub annotator: Option<String>,

    #[command(flatten)]
    pub app: AppArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the labelling app (`kibble` with no subcommand).
#[derive(Debug, Args)]
pub struct AppArgs {
    /// Serve each prompt to this many different annotators (for agreement). A property of the
    /// DB: set once, every session (and `kibble stats`) then uses it. Default: the DB's, else 1.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub overlap: Option<u32>,
    /// A claimed prompt returns to the queue after this many idle minutes (crashed sessions).
    #[arg(long, default_value_t = 10.0)]
    pub lease_minutes: f64,
    /// Rankings made faster than this many seconds are marked as rushed.
    #[arg(long, default_value_t = 0.0)]
    pub min_seconds: f64,
    /// Share of items drawn from gold prompts (those imported with a known "gold" answer).
    #[arg(long, default_value_t = 0.0)]
    pub gold_rate: f64,
    /// Serve only prompts tagged NAME (`tag:NAME`, from meta.tags) or with an answer whose source
    /// starts with PREFIX (`source:PREFIX`, e.g. source:policy); give both to need both.
    #[arg(long, value_name = "tag:NAME|source:PREFIX")]
    pub only: Vec<String>,
    /// Review: serve the prompts annotators disagree on, with each one's ranking shown; your
    /// ranking becomes the prompt's gold answer (exports can prefer it: --prefer-gold).
    #[arg(long, conflicts_with = "only")]
    pub review: bool,
    /// Draw with ASCII characters only.
    #[arg(long)]
    pub ascii: bool,
    /// Improve screen: warn when a round's reward rises while its KL to the start exceeds this.
    #[arg(long, default_value_t = 5.0)]
    pub kl_warn: f64,
    /// Improve screen: ... or while mean response length changes by more than this fraction.
    #[arg(long, default_value_t = 0.3)]
    pub length_drift_warn: f64,
    /// Headless: read key names (one per line, as in keymap.toml) from FILE, or - for stdin.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum GuidelinesAction {
    /// Store FILE (plain text or markdown, UTF-8) as the guidelines.
    Set { file: PathBuf },
    /// Print the guidelines.
    Show,
    /// Remove the guidelines.
    Clear,
}

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Print the current task as a task file (edit it and `task set` it again).
    Show,
    /// Make FILE (TOML, see assets/task.toml) the task: its criteria, and its guidelines if any.
    Set { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import JSONL files (plain or .gz): kibble, TRL pairs, HH transcripts or prompts.
    #[command(
        after_help = "Examples:\n  kibble import prompts.jsonl\n  kibble import --format trl pairs.jsonl.gz\n  kibble import --skip-invalid messy.jsonl   # bad lines go to messy.jsonl.rejects.jsonl\n\nEach file is imported in one transaction: on the first bad line nothing is written and\nkibble exits with code 2, naming FILE:LINE and the field. Re-importing a file adds nothing."
    )]
    Import(ImportArgs),
    /// Export rankings as TRL/OpenRLHF pairs, ranking records, or a full kibble backup.
    #[command(
        after_help = "Examples:\n  kibble export --format trl --out pairs.jsonl\n  kibble export --format trl --out pairs.jsonl --split 0.1 --seed 7   # pairs.train.jsonl + pairs.eval.jsonl\n  kibble export --format kibble --out backup.jsonl\n\nRetracted (undone) rankings are never exported. Splits are by prompt."
    )]
    Export(ExportArgs),
    /// The labelling guidelines every annotator is shown once (and on G in the app).
    #[command(
        after_help = "Examples:\n  kibble guidelines set guidelines.md\n  kibble guidelines show\n  kibble guidelines clear\n\nA prompt's own \"guidelines\" metadata (imported with it) is shown beside these."
    )]
    Guidelines {
        #[command(subcommand)]
        action: GuidelinesAction,
    },
    /// The labelling task: the criteria each item is judged on (rank or rate), versioned.
    #[command(
        after_help = "Examples:\n  kibble task show\n  kibble task set assets/task.toml\n\nWithout a task file kibble asks one thing: a ranking named \"overall\". Every decision\nrecords the task version it was made under; a new task applies from the next item on."
    )]
    Task {
        #[command(subcommand)]
        action: TaskAction,
    },
    /// Counts of prompts, candidates and rankings, per annotator.
    #[command(after_help = "Examples:\n  kibble stats\n  kibble stats --json | jq .annotators")]
    Stats(StatsArgs),
    /// Train a reward model on the live rankings (runs and metrics are stored in the DB).
    #[command(
        name = "train-rm",
        after_help = "Examples:\n  kibble train-rm                      # tiny model from scratch, preset defaults\n  kibble train-rm --preset minilm      # fine-tune all-MiniLM-L6-v2 (scripts/fetch-models.sh)\n  kibble train-rm --epochs 8 --lr 5e-4 --loss pl --ties model\n  kibble train-rm --resume 3           # continue run 3 from its last checkpoint\n  kibble train-rm --json | jq .        # one JSON event per line"
    )]
    TrainRm(TrainRmArgs),
    /// Score every candidate with a reward-model checkpoint (incremental; normalised scores).
    #[command(
        after_help = "Examples:\n  kibble score                 # newest checkpoint\n  kibble score --checkpoint 4\n  kibble score --checkpoint kibble.runs/run-2/step-300"
    )]
    Score(ScoreArgs),
    /// Pairwise accuracy of a checkpoint on a TRL/HH file, without importing it.
    #[command(
        name = "eval-rm",
        after_help = "Examples:\n  kibble eval-rm --checkpoint 4 heldout.jsonl\n  kibble eval-rm --checkpoint path/to/checkpoint heldout.jsonl.gz --json\n\nAccuracy is reported overall and per value of a \"subset\" field when lines have one."
    )]
    EvalRm(EvalRmArgs),
    /// Write reward histograms, reward vs length and training curves as one HTML file.
    #[command(after_help = "Examples:\n  kibble report\n  kibble report --out /tmp/kibble.html")]
    Report {
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Training runs in the DB with their status and best eval accuracy.
    #[command(after_help = "Examples:\n  kibble runs\n  kibble runs --json")]
    Runs(StatsArgs),
    /// Train a policy language model: `--sft` warm-starts the tiny GPT from scratch on the
    /// DB's best-ranked answers (improve it afterwards with `kibble improve`).
    #[command(
        name = "train-policy",
        after_help = "Examples:\n  kibble train-policy --sft\n  kibble train-policy --sft --all-candidates --epochs 5   # a DB with no rankings yet\n  kibble train-policy --sft --json | jq ."
    )]
    TrainPolicy(TrainPolicyArgs),
    /// Sample N answers per prompt from a policy into the DB; they enter the labelling queue
    /// with source policy:<run>/round<k>.
    #[command(
        after_help = "Examples:\n  kibble sample --n 4                       # newest policy, unlabelled prompts\n  kibble sample --policy 7 --prompts all --temperature 0.8 --top-p 0.95\n  kibble sample --prompts ids.txt           # one prompt id or exact prompt text per line\n  kibble sample --prompts new.jsonl         # a prompts JSONL ({\"prompt\": ...}), imported first\n\nSampling defaults: the model's generation_config.json, else temperature 0.7 and top-p 0.9 for a\npretrained model, 1.0 for kibble's tiny policy."
    )]
    Sample(SampleArgs),
    /// Rank pending prompts by a declared rule, as annotator sim:<rule> (unattended loops).
    #[command(
        after_help = "Examples:\n  kibble simulate --rule 'regex:(?i)\\bplease\\b'   # more matches = better\n  kibble simulate --rule shorter --noise 0.1\n  kibble simulate --rule checkpoint:4                # a reward model as judge"
    )]
    Simulate(SimulateArgs),
    /// One policy-improvement round: best-of-n fine-tuning, DPO or RLOO against the reward model,
    /// with held-out reward before/after and KL to the starting policy.
    #[command(
        after_help = "Examples:\n  kibble improve --method bon --n 8\n  kibble improve --method dpo --beta 0.1\n  kibble improve --method rloo --steps 100 --beta 0.05\n  kibble improve --method dpo --policy 7 --reward-model 4 --json\n  kibble improve --method dpo --policy models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --lora-rank 8\n  kibble improve --resume 12                # continue round 12 after Ctrl-C or a crash"
    )]
    Improve(ImproveArgs),
    /// Export a run as an HF transformers folder: a policy (GPT-2 layout for the tiny policy,
    /// Llama/Qwen2 for Llama-family ones, LoRA merged) or a BERT-family reward model
    /// (sequence classification, num_labels = 1).
    #[command(
        name = "export-model",
        after_help = "Examples:\n  kibble export-model --run 7 --out my-policy/\n  kibble export-model --run 3 --out my-rm/     # a reward-model run (train-rm --preset minilm)\n\nThen in Python: AutoModelForCausalLM.from_pretrained(\"my-policy\"), or\nAutoModelForSequenceClassification.from_pretrained(\"my-rm\", trust_remote_code=True)"
    )]
    ExportModel(ExportModelArgs),
    /// Speed benchmarks that anyone can run on their own machine.
    #[command(
        after_help = "Examples:\n  kibble bench import --prompts 250000\n  kibble bench queue --db big.db"
    )]
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import, in order; each is its own transaction.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Input format; `auto` decides from the first valid line.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Import the good lines and write the bad ones with reasons to FILE.rejects.jsonl.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print one JSON report per file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormatArg,
    /// Output file (written to a temporary name, then renamed). Default: standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Fraction of prompts for an eval file; writes OUT's .train and .eval siblings.
    #[arg(long, requires = "out")]
    pub split: Option<f64>,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only this annotator's rankings.
    #[arg(long = "annotator", value_name = "NAME")]
    pub only_annotator: Option<String>,
    /// Leave out rankings that are flagged, rushed, or both (`flagged,rushed`).
    #[arg(long, value_name = "flagged,rushed")]
    pub exclude: Option<String>,
    /// trl/openrlhf: add each pair's weight, 1 / (pairs of its ranking), so each ranking counts once.
    #[arg(long)]
    pub weight: bool,
    /// trl/openrlhf: one set of pairs per prompt from all its rankings (majority vote per pair,
    /// or one ranking by mean rank) instead of every ranking's own pairs.
    #[arg(long, value_enum)]
    pub merge: Option<MergeArg>,
    /// Pair, ranking and SFT formats: the criterion exported (default: the task's first). A rated
    /// criterion gives the pairs its points imply (difference in points as the margin).
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    /// Where a prompt has a gold (adjudicated, `kibble --review`) answer, export it alone instead
    /// of the annotators' rankings.
    #[arg(long)]
    pub prefer_gold: bool,
}

#[derive(Debug, Args)]
pub struct TrainRmArgs {
    /// A preset from assets/rm_presets.toml (tiny, minilm, smollm2). Default: `tiny`; with
    /// --backbone, the settings of its family's preset (`minilm` for a BERT-family folder,
    /// `smollm2` for a Llama/Qwen2 folder or GGUF file) on the backbone given.
    #[arg(long)]
    pub preset: Option<String>,
    /// A backbone to fine-tune: a BERT-family folder (config.json, model.safetensors,
    /// tokenizer.json, mean-pooled), or a Llama/Qwen2-family HF folder or GGUF file (read at the
    /// last token, the shape TRL trains).
    #[arg(long)]
    pub backbone: Option<PathBuf>,
    /// LoRA adapters of this rank on every projection of a Llama-family backbone instead of all
    /// its weights (the backbone stays frozen; exports merge them). 0: no adapters, fine-tune
    /// every weight (the `smollm2` preset has rank 16).
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// LoRA scale numerator: updates are scaled by alpha / rank (default: 2 x rank).
    #[arg(long, requires = "lora_rank")]
    pub lora_alpha: Option<f64>,
    /// Train only the head; keep the backbone frozen.
    #[arg(long)]
    pub freeze: bool,
    /// A number, or `auto` (the presets' default): enough passes to see about the preset's
    /// `auto_target_pairs` pairs, at most `auto_max_epochs`.
    #[arg(long)]
    pub epochs: Option<String>,
    /// Stop when held-out accuracy has not improved for N evaluations (0: never; default 3).
    /// The best checkpoint is kept either way.
    #[arg(long)]
    pub patience: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Pairs per step.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Pairs per forward and backward pass, gradients added up to the step's: memory holds
    /// one micro-batch's activations, the step is the same (--loss bt). Default the preset's
    /// (smollm2: 1), else the whole batch.
    #[arg(long)]
    pub micro_batch: Option<usize>,
    #[arg(long, value_enum, default_value = "bt")]
    pub loss: LossArg,
    #[arg(long, value_enum, default_value = "drop")]
    pub ties: TieArg,
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Share of prompts held out for evaluation (split by prompt).
    #[arg(long)]
    pub eval_fraction: Option<f64>,
    /// Evaluate (and checkpoint) every N steps; default the preset's (smollm2: 50), else twice per epoch.
    #[arg(long)]
    pub eval_every: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Ignore the stored strength of preference (no BT margin).
    #[arg(long)]
    pub no_margin: bool,
    /// Reward-centring weight lambda in lambda*(r_w + r_l)^2.
    #[arg(long, default_value_t = 0.0)]
    pub center: f64,
    #[arg(long)]
    pub vocab_size: Option<usize>,
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Only this annotator's rankings.
    #[arg(long = "only-annotator", value_name = "NAME")]
    pub only_annotator: Option<String>,
    /// The task criterion to learn (default: the first); a rated one trains on the pairs its
    /// points imply, with the difference in points as the margin.
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    /// One backbone with one head per criterion: `all`, or names separated by commas. Each
    /// head learns its criterion's rankings and ratings; `score` then scores every head.
    #[arg(
        long,
        value_name = "all|A,B",
        value_delimiter = ',',
        conflicts_with = "criterion"
    )]
    pub criteria: Vec<String>,
    /// Continue this run from its last checkpoint, bit-identically.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<i64>,
    /// Print events as JSON lines instead of a progress bar.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Checkpoint id (see `kibble runs`) or folder; default the newest.
    #[arg(long, conflicts_with = "criterion")]
    pub checkpoint: Option<String>,
    /// The newest reward model of this task criterion (`train-rm --criterion NAME`).
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalRmArgs {
    /// Checkpoint id or folder.
    #[arg(long)]
    pub checkpoint: String,
    /// TRL or HH preference file (.jsonl or .jsonl.gz).
    pub file: PathBuf,
    /// A model trained with `train-rm --criteria`: the criterion whose head is evaluated
    /// (default: its first).
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TrainPolicyArgs {
    /// Supervised warm-start of the tiny GPT on best-ranked answers (the only mode so far).
    #[arg(long)]
    pub sft: bool,
    /// Learn from every candidate, not only best-ranked ones.
    #[arg(long)]
    pub all_candidates: bool,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 8192)]
    pub vocab_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// Sampling options shared by `sample` and `improve`.
#[derive(Debug, Args)]
pub struct GenArgs {
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Default: the model's generation_config.json, else 0.7 for a pretrained model and 1.0
    /// for kibble's tiny policy (always 1.0 for --method rloo).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Keep the K most likely tokens (0 = off). Default: the model's generation_config.json, else 0.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens with this much probability (1 = off). Default: the
    /// model's generation_config.json, else 0.9 for a pretrained model and 1 for the tiny policy.
    #[arg(long)]
    pub top_p: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Policy run id or checkpoint folder (default: the newest policy).
    #[arg(long)]
    pub policy: Option<String>,
    /// all, unlabelled, a FILE of prompt ids / exact prompt texts (one per line), or a prompts JSONL.
    #[arg(long, default_value = "unlabelled")]
    pub prompts: String,
    /// Answers per prompt.
    #[arg(long, default_value_t = 4)]
    pub n: usize,
    /// Prompt format instead of the one the model's chat template gives:
    /// kibble, chatml, llama3, zephyr or completion.
    #[arg(long)]
    pub chat_template: Option<String>,
    #[command(flatten)]
    pub gen: GenArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// regex:PATTERN (more matches preferred), shorter, longer, or checkpoint:ID|DIR.
    #[arg(long)]
    pub rule: String,
    /// Probability of swapping each adjacent pair in the simulated order.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rank at most this many prompts.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The task criterion judged (default: the first); a rated one gets points spread over
    /// its scale by the rule's scores.
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImproveArgs {
    #[arg(long, value_enum, default_value = "bon")]
    pub method: MethodArg,
    /// Policy run id or checkpoint folder to start from (default: the newest policy).
    #[arg(long)]
    pub policy: Option<String>,
    /// Reward-model checkpoint id or folder (default: the newest).
    #[arg(long)]
    pub reward_model: Option<String>,
    /// Several criteria combined: a weighted sum of each criterion's normalised score, each from
    /// its newest reward model (`train-rm --criterion NAME`), e.g. "helpful=1,informative=0.5".
    #[arg(
        long,
        value_name = "CRITERION=WEIGHT,...",
        conflicts_with = "reward_model"
    )]
    pub reward: Option<String>,
    /// Where this criterion's normalised score is below the threshold, it replaces the
    /// combination (Llama 2's safety gate), e.g. "harmless<-0.5". Needs --reward.
    #[arg(long, value_name = "CRITERION<THRESHOLD", requires = "reward")]
    pub gate: Option<String>,
    /// Samples per prompt.
    #[arg(long, default_value_t = 4)]
    pub n: usize,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// RLOO optimisation steps.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Learning rate (default: bon 2e-4, dpo 1e-5, rloo 1e-5; ten times that with --lora-rank).
    #[arg(long)]
    pub lr: Option<f64>,
    /// DPO temperature / RLOO KL coefficient.
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    /// IPO loss instead of DPO's: (h - 1/(2 beta))^2 with h on log-ratios averaged over each
    /// completion's tokens, as TRL computes it (so beta means what it means in TRL).
    #[arg(long)]
    pub ipo: bool,
    /// Train prompts per round (0 = all).
    #[arg(long, default_value_t = 0)]
    pub max_prompts: usize,
    /// Held-out prompts sampled before and after.
    #[arg(long, default_value_t = 32)]
    pub eval_prompts: usize,
    /// DPO: learn only from RM-ranked samples, not from human rankings.
    #[arg(long)]
    pub no_human_pairs: bool,
    /// bon: weight of a token-level KL(policy || reference) penalty added to the loss (0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub kl_coef: f64,
    /// Sequences (dpo: pairs) per forward/backward pass; a step adds up the passes' gradients,
    /// so memory holds one micro-batch's activations. Default: 1 for pretrained (Llama-family)
    /// policies, the whole --batch for the tiny one.
    #[arg(long, value_name = "N")]
    pub micro_batch: Option<usize>,
    /// Train LoRA adapters of this rank on every projection instead of all weights (Llama-family
    /// policies); they are merged into the checkpoint.
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// LoRA scale numerator: updates are scaled by alpha / rank (default: 2 x rank).
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// Prompt format instead of the one the model's chat template gives:
    /// kibble, chatml, llama3, zephyr or completion.
    #[arg(long)]
    pub chat_template: Option<String>,
    /// Checkpoint (weights + optimizer state) every N steps so the round can be resumed (0 = only at the end).
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: u64,
    /// Continue improvement round RUN from its newest checkpoint (after Ctrl-C, a crash or a
    /// kill); the other options come from the run.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<i64>,
    #[command(flatten)]
    pub gen: GenArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportModelArgs {
    /// Policy run id.
    #[arg(long)]
    pub run: i64,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Startup to first frame and key -> frame times of the labelling app on the --db database
    /// (make a big one with `kibble bench import --keep big.db`). Ranks --items prompts.
    Tui {
        #[arg(long, default_value_t = 200)]
        items: usize,
        /// Also time the keys while a reward-model run trains in the background (needs rankings).
        #[arg(long)]
        with_training: bool,
        #[arg(long)]
        json: bool,
    },
    /// Reward-model training at the exact shapes of shared/peers/torch_rm_bench.py: tiny model,
    /// 8 pairs (16 x 128 random tokens) per step; prints pairs/s, tokens/s, GFLOP/s. With
    /// --backbone, a pretrained backbone fine-tuned at the shapes of
    /// shared/peers/torch_bert_rm_bench.py: 16 pairs x 128 tokens per step.
    #[command(
        after_help = "Examples:\n  kibble bench rm-train\n  kibble bench rm-train --backbone models/minilm --warmup 3 --steps 15"
    )]
    RmTrain {
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        #[arg(long, default_value_t = 30)]
        steps: usize,
        /// A BERT-family or Llama-family folder, or a GGUF file (as `train-rm --backbone`).
        #[arg(long, value_name = "DIR|FILE.gguf")]
        backbone: Option<std::path::PathBuf>,
        /// Pairs per step (default 8 for the tiny model, 16 with --backbone; the peer
        /// scripts' --pairs).
        #[arg(long)]
        pairs: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Reward-model scoring, batch 64 x 128, no gradients; prints sequences/s.
    RmScore {
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, default_value_t = 15)]
        batches: usize,
        /// A pretrained backbone with a fresh head instead of the tiny model.
        #[arg(long, value_name = "DIR|FILE.gguf")]
        backbone: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Tiny policy sampling at the shapes of shared/peers/torch_policy_bench.py: batch 8,
    /// 32-token prompts, 128 new tokens, temperature 1, KV cache; prints new tokens/s.
    /// With --model, a real policy (GGUF file, HF folder or kibble checkpoint) on real
    /// prompts in its chat template.
    #[command(
        after_help = "Examples:\n  kibble bench sample\n  kibble bench sample --model models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --iters 3 --show\n  kibble bench sample --model models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --batch 1"
    )]
    Sample {
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        #[arg(long, value_name = "FILE.gguf|DIR")]
        model: Option<std::path::PathBuf>,
        /// Print the first sample of the last call (with --model).
        #[arg(long)]
        show: bool,
        /// Sample in f32 (as training holds the weights) instead of from quantised blocks (a
        /// GGUF file's Q4_1/Q8_0, or Q8_0 made at load from a Llama folder or checkpoint):
        /// the comparison for the quantised kernels.
        #[arg(long)]
        f32: bool,
        #[arg(long)]
        json: bool,
    },
    /// DPO steps of the tiny policy: 8 pairs x 128 tokens (32-token prompt), beta 0.1; pairs/s.
    Dpo {
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long)]
        json: bool,
    },
    /// Generate a kibble JSONL of N prompts x K candidates, import it into a fresh DB, report speed
    /// and peak memory; then time the next-prompt query and `stats` at that size.
    Import {
        #[arg(long, default_value_t = 250_000)]
        prompts: usize,
        #[arg(long, default_value_t = 4)]
        candidates: usize,
        /// Words per answer (about 7 bytes each); prompts have 18.
        #[arg(long, default_value_t = 50)]
        words: usize,
        /// Keep the generated DB here (default: a temporary folder).
        #[arg(long)]
        keep: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}
