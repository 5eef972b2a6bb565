//! shopguard's HTTP API contract: what clients send and receive, and the error codes.
//!
//! One module per resource; everything is re-exported at the crate root, so
//! `shopguard_api_types::BatchRequest` and `shopguard_api_types::events::BatchRequest` name
//! the same type.
//!
//! Every error response has the same shape, [`ApiError`]: a lowercase `message` for people,
//! a stable `code` for programs, its `type` (the class of error) and a `link` to the docs.
//! The table of codes is [`ErrorCode`]; each maps to one HTTP status ([`errors`]).
#![warn(missing_docs)]

pub mod alerts;
pub mod audit;
pub mod data_keys;
pub mod decisions;
pub mod directory;
pub mod errors;
pub mod events;
pub mod incidents;
pub mod lists;
pub mod operators;
pub mod ops;
pub mod policy;
pub mod tasks;

pub use alerts::*;
pub use audit::*;
pub use data_keys::*;
pub use decisions::*;
pub use directory::*;
pub use errors::*;
pub use events::*;
pub use incidents::*;
pub use lists::*;
pub use operators::*;
pub use ops::*;
pub use policy::*;
pub use tasks::*;
