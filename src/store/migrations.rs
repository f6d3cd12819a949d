//! Schema migrations: an append-only list keyed on `PRAGMA user_version`.
//! Never edit a shipped entry; add a new one. All pending ones apply in one transaction.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Entry `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// A reward model with one head per criterion (`train-rm --criteria`) scores each candidate
/// once per head; a one-head model's scores are head 0, as every score made before was.
const V4: &str = r#"
CREATE TABLE scores_by_head (
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id),
    head          INTEGER NOT NULL,           -- the model output: its run's criteria, in order
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id),
    value         REAL NOT NULL,              -- normalised with the head's train-split stats
    raw           REAL NOT NULL,
    PRIMARY KEY (checkpoint_id, head, candidate_id)
) WITHOUT ROWID;
INSERT INTO scores_by_head (checkpoint_id, head, candidate_id, value, raw)
    SELECT checkpoint_id, 0, candidate_id, value, raw FROM scores;
DROP TABLE scores;
ALTER TABLE scores_by_head RENAME TO scores;
CREATE INDEX scores_candidate ON scores (candidate_id);
"#;

/// Tasks: the criteria an item is judged on, versioned. Version 1 is what kibble always asked
/// (one required ranking named `overall`), so every ranking made before keeps its meaning.
/// A decision's `groups` order its `criterion`; its other criteria are in `criterion_orders`
/// (further rankings) and `ratings` (points), retracted with the decision.
const V3: &str = r#"
CREATE TABLE tasks (
    version       INTEGER PRIMARY KEY,
    definition    TEXT NOT NULL,              -- JSON: {name, criteria: [{name, kind, required}]}
    created_at    INTEGER NOT NULL
);
INSERT INTO tasks (version, definition, created_at) VALUES
    (1, '{"name":"default","criteria":[{"name":"overall","kind":"rank","required":true}]}', 0);
ALTER TABLE rankings ADD COLUMN task_version INTEGER NOT NULL DEFAULT 1; -- tasks.version
ALTER TABLE rankings ADD COLUMN criterion TEXT DEFAULT 'overall';
CREATE TABLE criterion_orders (
    ranking_id    INTEGER NOT NULL REFERENCES rankings (id),
    criterion     TEXT NOT NULL,
    groups        TEXT NOT NULL,              -- JSON tie groups of candidate ids, best first
    mode          TEXT NOT NULL CHECK (mode IN ('full', 'best_worst')),
    PRIMARY KEY (ranking_id, criterion)
) WITHOUT ROWID;
CREATE INDEX criterion_orders_criterion ON criterion_orders (criterion);
CREATE TABLE ratings (
    ranking_id    INTEGER NOT NULL REFERENCES rankings (id),
    criterion     TEXT NOT NULL,
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id),
    value         INTEGER NOT NULL,
    PRIMARY KEY (ranking_id, criterion, candidate_id)
) WITHOUT ROWID;
CREATE INDEX ratings_criterion ON ratings (criterion, ranking_id);
"#;

/// A reward-model run keeps its best checkpoint (by held-out accuracy) beside its newest;
/// rankings carry flags and notes on single answers; settings of the whole DB (the labelling guidelines), and who has read which guidelines.
const V2: &str = r#"
ALTER TABLE checkpoints ADD COLUMN best INTEGER NOT NULL DEFAULT 0;
-- Flags and notes on single answers: a JSON list of {candidate, flags?, note?}.
ALTER TABLE rankings ADD COLUMN answer_marks TEXT NOT NULL DEFAULT '[]';
CREATE TABLE settings (
    key           TEXT PRIMARY KEY,
    value         TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE guidelines_seen (
    annotator_id  INTEGER NOT NULL REFERENCES annotators (id),
    hash          TEXT NOT NULL,              -- of the guidelines text they were shown
    seen_at       INTEGER NOT NULL,
    PRIMARY KEY (annotator_id, hash)
);
"#;

/// Times are Unix milliseconds. Hashes are the first 16 bytes of SHA-256.
const V1: &str = r#"
CREATE TABLE prompts (
    id            INTEGER PRIMARY KEY,
    ext_id        TEXT,
    content_hash  BLOB NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('text', 'chat')),
    body          TEXT NOT NULL,              -- the text, or a JSON list of {role, content}
    meta          TEXT NOT NULL DEFAULT '{}', -- tags and free metadata, a JSON object
    gold          TEXT,                       -- known answer (JSON tie groups of candidate ids) for QC
    priority      INTEGER NOT NULL DEFAULT 0, -- higher is served first ("label next")
    n_ranked      INTEGER NOT NULL DEFAULT 0, -- distinct annotators with a live ranking; kept by the store
    n_candidates  INTEGER NOT NULL DEFAULT 0, -- kept by the store as candidates are added
    created_at    INTEGER NOT NULL
);
-- The labelling queue: only prompts with something to rank, most wanted first.
-- Gold prompts (known answer) are served separately, at a rate, to every annotator.
CREATE INDEX prompts_queue ON prompts (n_ranked, priority DESC, id) WHERE n_candidates >= 2 AND gold IS NULL;
CREATE INDEX prompts_gold ON prompts (id) WHERE gold IS NOT NULL;
-- Narrow, so `stats` counts without reading the wide prompt rows.
CREATE INDEX prompts_counts ON prompts (n_candidates, n_ranked);

CREATE TABLE candidates (
    id            INTEGER PRIMARY KEY,
    prompt_id     INTEGER NOT NULL REFERENCES prompts (id),
    content_hash  BLOB NOT NULL,
    text          TEXT NOT NULL,
    source        TEXT NOT NULL,              -- import:<file>, model:<name>, policy:<run>/round<k>
    created_at    INTEGER NOT NULL,
    UNIQUE (prompt_id, content_hash)
);

CREATE TABLE annotators (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL
);

-- The append-only log of decisions. Rows are never updated or deleted.
CREATE TABLE rankings (
    id            INTEGER PRIMARY KEY,
    prompt_id     INTEGER NOT NULL REFERENCES prompts (id),
    annotator_id  INTEGER NOT NULL REFERENCES annotators (id),
    os_user       TEXT,
    created_at    INTEGER NOT NULL,
    duration_ms   INTEGER,
    shown_order   TEXT NOT NULL,              -- JSON list of candidate ids in the order shown
    verdict       TEXT NOT NULL CHECK (verdict IN ('rank', 'skip')),
    mode          TEXT NOT NULL CHECK (mode IN ('full', 'best_worst')),
    groups        TEXT NOT NULL,              -- JSON list of tie groups of candidate ids, best first
    strength      REAL,
    flags         TEXT NOT NULL DEFAULT '[]',
    note          TEXT,
    rushed        INTEGER NOT NULL DEFAULT 0,
    dedupe_key    BLOB UNIQUE                 -- set by imports so a re-import adds nothing
);
CREATE INDEX rankings_prompt_annotator ON rankings (prompt_id, annotator_id);
CREATE INDEX rankings_annotator ON rankings (annotator_id, created_at);

-- Undo appends here; a ranking with a retraction no longer counts.
CREATE TABLE retractions (
    ranking_id    INTEGER PRIMARY KEY REFERENCES rankings (id),
    annotator_id  INTEGER NOT NULL REFERENCES annotators (id),
    created_at    INTEGER NOT NULL
);

-- Who is working on which prompt right now. Expired rows are ignored and swept.
CREATE TABLE leases (
    prompt_id     INTEGER NOT NULL REFERENCES prompts (id),
    annotator_id  INTEGER NOT NULL REFERENCES annotators (id),
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, annotator_id)
) WITHOUT ROWID;
CREATE INDEX leases_annotator ON leases (annotator_id);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,              -- rm, sft, bon, dpo, rloo, sample
    config        TEXT NOT NULL,              -- JSON
    status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    message       TEXT,
    parent_run_id INTEGER REFERENCES runs (id),
    round         INTEGER,
    created_by    TEXT,
    host          TEXT,
    pid           INTEGER,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,
    finished_at   INTEGER
);

-- Which rankings went into a run, and on which side of the split.
CREATE TABLE run_rankings (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    ranking_id    INTEGER NOT NULL REFERENCES rankings (id),
    split         TEXT NOT NULL CHECK (split IN ('train', 'eval')),
    PRIMARY KEY (run_id, ranking_id)
) WITHOUT ROWID;

CREATE TABLE metrics (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    name          TEXT NOT NULL,
    step          INTEGER NOT NULL,
    value         REAL NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    step          INTEGER NOT NULL,
    path          TEXT NOT NULL,
    metrics       TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE INDEX checkpoints_run ON checkpoints (run_id);

CREATE TABLE scores (
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id),
    candidate_id  INTEGER NOT NULL REFERENCES candidates (id),
    value         REAL NOT NULL,              -- normalised with the checkpoint's train-split stats
    raw           REAL NOT NULL,
    PRIMARY KEY (checkpoint_id, candidate_id)
) WITHOUT ROWID;
CREATE INDEX scores_candidate ON scores (candidate_id);

CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    file_name     TEXT NOT NULL,
    format        TEXT NOT NULL,
    at            INTEGER NOT NULL,
    prompts_added    INTEGER NOT NULL,
    candidates_added INTEGER NOT NULL,
    rankings_added   INTEGER NOT NULL,
    rejected      INTEGER NOT NULL
);
"#;

/// Brings the schema up to date, or refuses a DB from a newer kibble without touching it.
pub fn check_version(conn: &Connection) -> Result<usize, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len();
    if found < 0 || found as usize > known {
        return Err(StoreError::NewerSchema {
            found,
            known: known as i64,
        });
    }
    Ok(found as usize)
}

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current = check_version(conn)?;
    if current == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let current = check_version(&tx)?;
    for sql in &MIGRATIONS[current..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}
