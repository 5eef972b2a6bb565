//! One module per command of the `shopguard` binary; each holds its arguments and runs them
//! through the application's services (or, for server commands, the HTTP API).

pub mod audit;
pub mod backup;
pub mod data_keys;
pub mod directory;
pub mod incidents;
pub mod keys;
pub mod lists;
pub mod operators;
pub mod playbook;
pub mod policy;
pub mod serve;
pub mod simulate;
