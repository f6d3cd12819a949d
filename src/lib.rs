//! kibble: a terminal-native RLHF workbench. Rank model responses, train a reward model,
//! improve a policy, in one binary over SSH.
//!
//! Arrows point one way: `tui` -> `jobs` -> (`ml`, `data`, `store`) -> `domain`.

// An unsafe fn does not make its body an unsafe block: each unsafe operation is marked.
#![warn(unsafe_op_in_unsafe_fn)]

pub mod analysis;
pub mod cli;
pub mod commands;
pub mod data;
pub mod domain;
pub mod files;
pub mod jobs;
pub mod ml;
pub mod os;
pub mod store;
pub mod text;
pub mod tui;
