//! One file per LSP method. Each handler enqueues its message before its first `.await`.

pub(crate) mod code_action;
pub(crate) mod code_lens;
pub(crate) mod diagnostic;
pub(crate) mod did_change;
pub(crate) mod did_change_configuration;
pub(crate) mod did_change_watched_files;
pub(crate) mod did_close;
pub(crate) mod did_open;
pub(crate) mod did_save;
pub(crate) mod execute_command;
pub(crate) mod hover;
pub(crate) mod initialize;
pub(crate) mod initialized;
pub(crate) mod progress_cancel;
pub(crate) mod shutdown;
pub(crate) mod stats;
