//! One module per console page, each a thin caller of the application services.

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod decisions;
pub(crate) mod entity;
pub(crate) mod incidents;
pub(crate) mod lists;
pub(crate) mod operators;
pub(crate) mod policy;
pub(crate) mod situation;
pub(crate) mod tasks;
