//! Prompts and their candidates: lookups, streaming reads for export, queue priority.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Row};

use super::{Result, Store};
use crate::domain::{Candidate, CandidateId, Message, Prompt, PromptBody, PromptId};

const SELECT_PROMPT: &str = "SELECT id, ext_id, kind, body, meta, priority, gold FROM prompts";

/// A prompt row before its JSON columns are decoded.
struct RawPrompt {
    id: PromptId,
    ext_id: Option<String>,
    kind: String,
    body: String,
    meta: String,
    priority: i64,
    gold: Option<String>,
}

fn prompt_from_row(row: &Row) -> rusqlite::Result<RawPrompt> {
    Ok(RawPrompt {
        id: row.get(0)?,
        ext_id: row.get(1)?,
        kind: row.get(2)?,
        body: row.get(3)?,
        meta: row.get(4)?,
        priority: row.get(5)?,
        gold: row.get(6)?,
    })
}

fn finish_prompt(raw: RawPrompt) -> Result<Prompt> {
    let body = if raw.kind == "chat" {
        PromptBody::Chat(serde_json::from_str::<Vec<Message>>(&raw.body)?)
    } else {
        PromptBody::Text(raw.body)
    };
    Ok(Prompt {
        id: raw.id,
        ext_id: raw.ext_id,
        body,
        meta: serde_json::from_str(&raw.meta)?,
        priority: raw.priority,
        gold: raw.gold.map(|g| serde_json::from_str(&g)).transpose()?,
    })
}

fn candidate_from_row(row: &Row) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        id: row.get(0)?,
        prompt_id: row.get(1)?,
        text: row.get(2)?,
        source: row.get(3)?,
    })
}

impl Store {
    pub fn prompt(&self, id: PromptId) -> Result<Option<Prompt>> {
        let raw = self
            .conn
            .prepare_cached(&format!("{SELECT_PROMPT} WHERE id = ?1"))?
            .query_row([id], prompt_from_row)
            .optional()?;
        raw.map(finish_prompt).transpose()
    }

    pub fn prompt_hash(&self, id: PromptId) -> Result<[u8; 16]> {
        let v: Vec<u8> = self.conn.query_row(
            "SELECT content_hash FROM prompts WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let mut out = [0u8; 16];
        out.copy_from_slice(&v[..16.min(v.len())]);
        Ok(out)
    }

    pub fn candidates(&self, prompt_id: PromptId) -> Result<Vec<Candidate>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, prompt_id, text, source FROM candidates WHERE prompt_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([prompt_id], candidate_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn candidate(&self, id: CandidateId) -> Result<Option<Candidate>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, prompt_id, text, source FROM candidates WHERE id = ?1")?
            .query_row([id], candidate_from_row)
            .optional()?)
    }

    /// Calls `f` for every prompt with its candidates, in id order, without loading all at once.
    pub fn for_each_prompt(
        &self,
        mut f: impl FnMut(&Prompt, &[Candidate]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut prompts = self.conn.prepare(&format!("{SELECT_PROMPT} ORDER BY id"))?;
        let mut rows = prompts.query([])?;
        while let Some(row) = rows.next()? {
            let prompt = finish_prompt(prompt_from_row(row)?)?;
            let cands = self.candidates(prompt.id)?;
            f(&prompt, &cands)?;
        }
        Ok(())
    }

    /// Puts prompts at the front of the labelling queue (higher priority is served first).
    pub fn set_priority(&mut self, prompt_ids: &[PromptId], priority: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for id in prompt_ids {
            tx.execute(
                "UPDATE prompts SET priority = ?2 WHERE id = ?1",
                params![id, priority],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Known answers of gold prompts: tie groups of candidate ids, best first.
    pub fn gold_answers(&self) -> Result<HashMap<PromptId, Vec<Vec<CandidateId>>>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, gold FROM prompts WHERE gold IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, gold) = row?;
            out.insert(id, serde_json::from_str(&gold)?);
        }
        Ok(out)
    }

    /// Latest normalised reward score of each candidate of a prompt, by the newest checkpoint that scored it.
    pub fn latest_scores(&self, prompt_id: PromptId) -> Result<Vec<(CandidateId, f64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id, (SELECT s.value FROM scores s WHERE s.candidate_id = c.id AND s.head = 0
                            ORDER BY s.checkpoint_id DESC LIMIT 1)
             FROM candidates c WHERE c.prompt_id = ?1",
        )?;
        let rows = stmt.query_map([prompt_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<f64>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            if let (id, Some(v)) = row? {
                out.push((id, v));
            }
        }
        Ok(out)
    }
}
