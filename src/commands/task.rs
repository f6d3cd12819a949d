//! `kibble task show|set`: the criteria every item is judged on.

use std::path::Path;

use super::{open_store, BadInput};
use crate::cli::TaskAction;
use crate::domain::task::{parse_task_file, task_to_toml};

pub fn task(db: &Path, action: TaskAction) -> anyhow::Result<()> {
    let mut store = open_store(db)?;
    match action {
        TaskAction::Show => {
            let (version, task) = store.task()?;
            let guidelines = store.guidelines()?;
            println!("# task version {version}");
            print!(
                "{}",
                crate::text::sanitize(&task_to_toml(&task, guidelines.as_deref()))
            );
        }
        TaskAction::Set { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| BadInput(format!("{}: cannot read: {e}", file.display())))?;
            let (task, guidelines) =
                parse_task_file(&file, &text).map_err(|e| BadInput(e.to_string()))?;
            let before = store.task()?.0;
            let version = store.set_task(&task)?;
            if let Some(g) = &guidelines {
                store.set_guidelines(Some(g))?;
            }
            let criteria: Vec<String> = task
                .criteria
                .iter()
                .map(|c| {
                    let opt = if c.required { "" } else { ", optional" };
                    format!("{} ({}{opt})", c.name, c.kind.describe())
                })
                .collect();
            if version == before {
                println!(
                    "task unchanged (version {version}): {}",
                    criteria.join(", ")
                );
            } else {
                println!(
                    "task version {version}: {}; applies from each annotator's next item",
                    criteria.join(", ")
                );
            }
        }
    }
    Ok(())
}
